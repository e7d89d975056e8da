"""The Faust worker: its stages, their declared context, state and sends, and the Faust overrides."""
