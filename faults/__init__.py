"""The fault suite (``make faults``): real faults, whole-state comparison with an uninterrupted run."""
