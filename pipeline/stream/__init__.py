"""Kafka plumbing shared by the Faust worker, the demo and the integration tests."""
