"""The member export: one CSV per customer group, written nightly for marketing tools.

``customer-groups export`` (:mod:`pipeline.export.command`) reads the group
definitions from Kafka and the members from Redis, and writes a dated folder
that appears complete or not at all. See README, "Exporting members and the
personalisation client".
"""

from pipeline.export.job import ExportRequest, ExportResult, UnknownGroups, run_export

__all__ = ["ExportRequest", "ExportResult", "UnknownGroups", "run_export"]
