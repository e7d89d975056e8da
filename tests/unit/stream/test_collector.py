"""The worker's garbage-collector policy: batches frozen once looked at, cyclic garbage
reclaimed on a schedule, every pause timed into the metrics (pipeline.stream.collector)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pipeline.settings import Settings
from pipeline.stream.collector import BatchFreezer, GcPauses, tune_gc
from pipeline.stream.metrics import Metrics


class Node:
    other: Node | None = None


def _cycle() -> weakref.ref[Node]:
    """Two objects that refer to each other and to nothing else: garbage only a collection frees."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def _in_sight(obj: object) -> bool:
    """Is ``obj`` in a generation the collector walks (not frozen)?"""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """No automatic collection in the test (only the ones it makes); whatever it freezes is
    handed back to the collector afterwards."""
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_what_survives_a_batch_is_frozen_out_of_every_later_collection(unfrozen: None) -> None:
    freezer = BatchFreezer(True, reclaim_seconds=600, clock=Clock())
    kept = [{"a": [1]}]
    assert _in_sight(kept)
    freezer.after_batch()
    assert not _in_sight(kept)
    assert gc.get_freeze_count() > 0


def test_cyclic_garbage_frozen_earlier_is_freed_by_the_periodic_full_collection(unfrozen: None) -> None:
    clock, metrics = Clock(), Metrics()
    freezer = BatchFreezer(True, reclaim_seconds=600, metrics=metrics, clock=clock)
    holder = [Node()]
    holder[0].other = Node()
    holder[0].other.other = holder[0]  # a cycle, alive while the holder refers to it
    gone = weakref.ref(holder[0])
    freezer.after_batch()  # frozen while alive
    holder.clear()  # now garbage, but frozen: no collection sees it
    clock.now = 599.0
    freezer.after_batch()
    gc.collect()
    assert gone() is not None
    clock.now = 600.0
    freezer.after_batch()  # the reclaim
    assert gone() is None
    assert (metrics.registry.get_sample_value("cg_gc_reclaimed_objects_total") or 0) >= 2
    kept = [[1]]
    assert _in_sight(kept)  # after the reclaim, batches are frozen again
    clock.now = 700.0
    freezer.after_batch()
    assert not _in_sight(kept)


def test_a_disabled_freezer_leaves_the_collector_alone(unfrozen: None) -> None:
    freezer = BatchFreezer(False, reclaim_seconds=0.001, clock=Clock())
    kept = [[1]]
    gone = _cycle()
    freezer.after_batch()
    assert _in_sight(kept)
    assert gone() is not None  # nothing collected either
    assert gc.get_freeze_count() == 0


def test_the_worker_sets_its_gc_thresholds_and_freezes_what_exists(unfrozen: None) -> None:
    before = gc.get_threshold()
    try:
        assert tune_gc(Settings(gc_thresholds=(12_345, 20, 300))) == (12_345, 20, 300)
        assert gc.get_freeze_count() > 0
        assert Settings().gc_thresholds == (50_000, 50, 1_000)
        assert Settings().gc_freeze_batches and Settings().gc_reclaim_seconds == 3600
    finally:
        gc.set_threshold(*before)


def _count(metrics: Metrics, generation: str) -> float:
    return metrics.registry.get_sample_value("cg_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_each_collection_is_timed_by_generation_while_installed() -> None:
    ticks = iter(range(100))
    metrics = Metrics()
    pauses = GcPauses(metrics, clock=lambda: float(next(ticks)))
    pauses.install()
    pauses.install()  # once only, however often installed
    try:
        gc.collect(2)
    finally:
        pauses.remove()
    assert _count(metrics, "2") == 1
    assert metrics.registry.get_sample_value("cg_gc_pause_seconds_sum", {"generation": "2"}) == 1.0  # one tick
    assert pauses not in gc.callbacks
    gc.collect(2)
    assert _count(metrics, "2") == 1  # removed: not timed any more


def test_an_end_without_its_start_is_not_counted() -> None:
    metrics = Metrics()
    pauses = GcPauses(metrics)
    pauses("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
    assert _count(metrics, "0") == 0
