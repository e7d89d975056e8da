"""Tests of the profile model (pipeline.profile)."""
