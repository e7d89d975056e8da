"""Sorting member IDs through disk (bounded memory, no repeats) and the delta walk."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.export.ids import DeltaJoin, IdSorter, read_ids, write_ids
from schemas.identifiers import is_valid_id

# IDs the contract lets through: the exporter must keep every one of them.
ids = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(is_valid_id)


def test_sorter_spills_runs_to_disk_and_merges_them_unique(tmp_path: Path) -> None:
    sorter = IdSorter(tmp_path, run_size=3)
    sorter.add(["c5", "c1", "c3"])  # SSCAN order, with a repeat across chunks below
    sorter.add(["c2", "c5", "c4"])
    sorter.add(["c0"])
    assert len(list(tmp_path.glob("run-*.ids"))) == 2  # held at most 3 IDs in memory
    assert list(sorter.sorted_unique()) == ["c0", "c1", "c2", "c3", "c4", "c5"]
    sorter.close()
    assert list(tmp_path.iterdir()) == []


def test_ids_outside_the_id_policy_are_skipped_and_counted_once(tmp_path: Path) -> None:
    sorter = IdSorter(tmp_path)
    sorter.add(["ok", "two\nlines", "", "tab\there", "山田", "sep\x1cx", "nul\x00", "br{ace}"])
    sorter.add(["sep\x1cx"])  # SSCAN may repeat one
    assert list(sorter.sorted_unique()) == ["ok", "山田"]
    assert sorter.rejected == 6


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.lists(ids, max_size=6), max_size=6), run_size=st.integers(1, 5))
def test_sorted_unique_is_sorted_set_of_everything_added(tmp_path_factory: pytest.TempPathFactory,
                                                         chunks: list[list[str]], run_size: int) -> None:
    sorter = IdSorter(tmp_path_factory.mktemp("runs"), run_size=run_size)
    for chunk in chunks:
        sorter.add(chunk)
    assert list(sorter.sorted_unique()) == sorted({i for c in chunks for i in c})
    sorter.close()


def test_read_ids_refuses_an_unsorted_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "x.ids"
    write_ids(path, ["b", "a"])
    with pytest.raises(ValueError, match="not sorted"):
        list(read_ids(path))
    write_ids(path, ["a", "b", "ä"])
    assert list(read_ids(path)) == ["a", "b", "ä"]


def delta(previous: list[str], today: list[str], batch: int) -> tuple[list[str], list[str]]:
    join = DeltaJoin(previous)
    left: list[str] = []
    joined: list[str] = []
    for i in range(0, len(today), batch):
        gone, new = join.step(today[i:i + batch])
        left += gone
        joined += sorted(new)
    return left + list(join.remaining()), joined


def test_delta_names_who_joined_and_who_left() -> None:
    assert delta(["a", "b", "d", "f"], ["b", "c", "d", "e"], batch=2) == (["a", "f"], ["c", "e"])
    assert delta([], ["a"], batch=1) == ([], ["a"])
    assert delta(["a"], [], batch=1) == (["a"], [])


@settings(max_examples=100, deadline=None)
@given(previous=st.sets(ids, max_size=15), today=st.sets(ids, max_size=15), batch=st.integers(1, 4))
def test_delta_agrees_with_set_difference(previous: set[str], today: set[str], batch: int) -> None:
    left, joined = delta(sorted(previous), sorted(today), batch)
    assert left == sorted(previous - today)
    assert joined == sorted(today - previous)


def test_delta_refuses_members_out_of_order() -> None:
    join = DeltaJoin(["a"])
    join.step(["m"])
    with pytest.raises(ValueError, match="out of order"):
        join.step(["b"])
