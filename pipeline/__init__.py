"""customer-groups: streaming customer segmentation for online shops.

The package keeps pure logic (``pipeline.rules``, ``pipeline.profile``) apart
from the I/O shells (Faust agents, Redis writers, the exporter) so the heart of
the product can be tested without servers.
"""

__version__ = "0.1.0"
