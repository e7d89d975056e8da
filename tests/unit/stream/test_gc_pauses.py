"""Garbage-collector pauses are timed into the worker's metrics, and only while installed."""

from __future__ import annotations

import gc

from pipeline.stream.metrics import GcPauses, Metrics


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
