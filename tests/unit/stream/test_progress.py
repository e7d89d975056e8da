"""PartitionProgress: records waiting behind a commit that does not move are a stall, reported by Health."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from pipeline.stream.health import Health
from pipeline.stream.progress import PartitionProgress

P6 = ("cg.events", 6)
WHAT = 'partition cg.events[6]'


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress() -> tuple[PartitionProgress, Health, Gauge, Clock]:
    gauge = Gauge("cg_stalled", "test", ["what"], registry=CollectorRegistry())
    clock = Clock()
    health = Health(gauge, stall_after=30, clock=clock)
    return PartitionProgress(health), health, gauge, clock


def _looks(progress: PartitionProgress, clock: Clock, seconds: int, committed: int, end: int,
           rebalancing: bool = False) -> None:
    for _ in range(seconds // 5):
        progress.observe({P6: (committed, end)}, rebalancing=rebalancing)
        clock.now += 5


def test_a_commit_held_below_waiting_records_is_a_stall_with_its_reason() -> None:
    progress, health, gauge, clock = _progress()
    _looks(progress, clock, 40, committed=1885, end=2440)
    problems = health.problems()
    assert [p["what"] for p in problems] == [WHAT]
    assert "committed offset 1885 has not moved with 555 record(s) after it" in str(problems[0]["error"])
    assert gauge.labels(WHAT)._value.get() == 1  # noqa: SLF001 - the gauge's value
    progress.observe({P6: (1886, 2440)}, rebalancing=False)  # it moved: well again
    assert health.problems() == [] and gauge.labels(WHAT)._value.get() == 0  # noqa: SLF001


def test_a_partition_caught_up_or_moving_is_not_a_stall() -> None:
    progress, health, _, clock = _progress()
    _looks(progress, clock, 60, committed=2440, end=2440)  # idle, nothing waiting
    for committed in range(1000, 1100, 10):  # busy, committing
        progress.observe({P6: (committed, 2440)}, rebalancing=False)
        clock.now += 5
    assert health.problems() == [] and health.failing_now == frozenset()


def test_nothing_is_judged_while_the_worker_rebalances_or_for_a_partition_it_lost() -> None:
    progress, health, _, clock = _progress()
    _looks(progress, clock, 40, committed=1885, end=2440, rebalancing=True)
    assert health.failing_now == frozenset()
    _looks(progress, clock, 10, committed=1885, end=2440)
    assert health.failing_now == {WHAT}
    progress.observe({}, rebalancing=False)  # revoked: its new owner is judged instead
    assert health.failing_now == frozenset()


def test_an_offset_not_known_yet_is_not_judged() -> None:
    progress, health, _, clock = _progress()
    for _ in range(10):
        progress.observe({P6: (None, 2440)}, rebalancing=False)
        progress.observe({P6: (1885, None)}, rebalancing=False)
        clock.now += 5
    assert health.failing_now == frozenset()
