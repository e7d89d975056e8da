"""Subjects live where their bare ID hashes: the storefront's cookie key lands on the profile's partition."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from pipeline.stream.partitioning import SubjectPartitioner, bare_id

ids = st.text(min_size=1, max_size=40)


@given(ids, st.integers(min_value=1, max_value=64))
def test_a_key_goes_where_kafkas_default_partitioner_puts_it(key: str, partitions: int) -> None:
    everything = list(range(partitions))
    expected = DefaultPartitioner()(key.encode(), everything, everything)
    assert SubjectPartitioner(partitions).of_key(key.encode()) == expected


@given(ids, st.sampled_from(["v", "c"]))
def test_a_subject_lives_on_its_bare_ids_partition(identifier: str, kind: str) -> None:
    partitioner = SubjectPartitioner(4)
    assert bare_id(f"{kind}:{identifier}") == identifier
    assert partitioner.of_subject(f"{kind}:{identifier}") == partitioner.of_key(identifier.encode())


def test_an_id_without_a_prefix_is_its_own_key() -> None:
    assert bare_id("__sync__") == "__sync__"
    assert bare_id("v:") == ""
