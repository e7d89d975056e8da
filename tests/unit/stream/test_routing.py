"""A subject's request goes to the worker owning the partition the pipeline puts it on (pipeline.stream.routing)."""

from __future__ import annotations

import faust
import pytest
from aiokafka.partitioner import DefaultPartitioner
from yarl import URL

from pipeline.stream.partitioning import SubjectPartitioner
from pipeline.stream.routing import SubjectRouter, owner_url

PARTITIONS = 12
SUBJECTS = [f"c:c{i}" for i in range(40)] + [f"v:ck{i}" for i in range(40)]


def _metadata(topic: str) -> dict[str, dict[str, list[int]]]:
    """Three workers, four partitions each, as Faust's assignor reports them."""
    return {f"http://w{w}:6066": {topic: list(range(w * 4, w * 4 + 4))} for w in range(3)}


def test_upstream_placed_subjects_elsewhere_than_the_pipeline_does() -> None:
    """The reproduction: Faust's router hashes the whole key, the pipeline the bare ID."""
    everything = list(range(PARTITIONS))
    upstream = {s: DefaultPartitioner()(s.encode(), everything, everything) for s in SUBJECTS}
    ours = SubjectPartitioner(PARTITIONS)
    assert sum(upstream[s] != ours.of_subject(s) for s in SUBJECTS) > len(SUBJECTS) // 2


def test_a_subject_is_routed_to_the_owner_of_its_partition() -> None:
    app = faust.App("routing-unit", web_enabled=False, topic_partitions=PARTITIONS, Router=SubjectRouter)
    app.Table("profiles", key_type=str, value_type=bytes, partitions=PARTITIONS)
    router = app.router
    assert isinstance(router, SubjectRouter)
    topic = app.tables["profiles"].changelog_topic.get_topic_name()
    router.table_metadata = lambda name: _metadata(topic)  # type: ignore[method-assign]  # the assignor's view
    placement = SubjectPartitioner(PARTITIONS)
    for subject in SUBJECTS:
        owner = placement.of_subject(subject) // 4
        assert router.key_store("profiles", subject) == URL(f"http://w{owner}:6066"), subject


def test_no_owner_while_the_partition_is_unassigned_is_a_key_error() -> None:
    """Faust's route_req turns it into 503, as for any table during a rebalance."""
    assert owner_url(_metadata("t"), "t", 11) == URL("http://w2:6066")
    with pytest.raises(KeyError):
        owner_url({"http://w0:6066": {"t": [0, 1]}}, "t", 5)
