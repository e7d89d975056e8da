"""Redis: the membership view the personalisation layer and exporter read."""
