"""Which worker serves a subject's request: the owner of the partition the pipeline puts it on.

Faust's ``table_route`` asks its router where a table key lives, and upstream's
``Router.key_store`` answers with the producer's partitioner over the whole
serialized key (``c:c0``). The pipeline places a subject by its bare ID
(:mod:`pipeline.stream.partitioning`: ``c0``), so with more than one worker an
explain request reached the wrong worker, which answered 404 "no profile for
c:c0 on this worker" (found by ``tests/integration/test_scale_out.py``).
:class:`SubjectRouter` answers for the subject-keyed tables with the pipeline's
own partitioner and leaves every other table to upstream.
"""

from __future__ import annotations

from typing import Any

from faust.app.router import Router
from yarl import URL

from pipeline.stream.partitioning import SubjectPartitioner

#: The tables whose keys are subjects (``c:<id>`` / ``v:<id>``), placed by SubjectPartitioner.
SUBJECT_TABLES = frozenset({"profiles"})


class SubjectRouter(Router):
    """Faust's router (``faust.App(Router=...)``), with subject tables placed as the pipeline places them."""

    def key_store(self, table_name: str, key: Any) -> URL:
        if table_name not in SUBJECT_TABLES or not isinstance(key, str):
            return super().key_store(table_name, key)
        table = self._get_table(table_name)
        topic = self._get_table_topic(table)
        partitions = table.changelog_topic.partitions or self.app.conf.topic_partitions
        return owner_url(self.table_metadata(table_name), topic, SubjectPartitioner(partitions).of_subject(key))


def owner_url(metadata: Any, topic: str, partition: int) -> URL:
    """The URL of the worker that holds ``partition`` of ``topic`` in the assignor's table metadata
    (``{url: {topic: [partitions]}}``); KeyError while no worker does (a rebalance: Faust answers 503)."""
    for url, topics in metadata.items():
        if partition in topics.get(topic, ()):
            return URL(url)
    raise KeyError(f"{topic}[{partition}]")
