"""The event-loop lag watcher reports a loop held by blocking work, and nothing when it is free;
the watchdog says where the loop's thread was held."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from pipeline.stream.loop_lag import LoopWatchdog, stack_of, watch_loop_lag


async def _watch(seconds: float, block: float | None) -> list[float]:
    seen: list[float] = []
    task = asyncio.create_task(watch_loop_lag(seen.append, interval=0.01))
    await asyncio.sleep(0.05)
    if block is not None:
        time.sleep(block)  # holds the loop, as a long batch or a collection does
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return seen


async def test_a_held_loop_shows_as_one_late_wake_up() -> None:
    seen = await _watch(0.05, block=0.2)
    assert max(seen) >= 0.15  # the wake-up due during the block came ~0.19 s late
    assert sum(lag >= 0.15 for lag in seen) == 1


async def test_a_free_loop_wakes_on_time() -> None:
    seen = await _watch(0.2, block=None)
    assert len(seen) >= 5 and min(seen) >= 0.0
    assert sorted(seen)[len(seen) // 2] < 0.1  # the median: a shared machine may delay one wake-up, not most


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_watchdog_reports_a_held_loop_at_stall_seconds_then_each_time_the_hold_doubles() -> None:
    clock = FakeClock()
    reports: list[tuple[float, str]] = []
    dog = LoopWatchdog(0.5, thread_id=7, report=lambda held, stack: reports.append((held, stack)),
                       clock=clock, stack=lambda tid: f"stack of {tid}")
    for now, expected in [(100.4, 0), (100.5, 1), (100.9, 1), (101.0, 2), (101.6, 2), (102.0, 3), (103.9, 3),
                          (104.1, 4)]:
        clock.now = now
        dog.check()
        assert len(reports) == expected, now
    assert [held for held, _ in reports] == pytest.approx([0.5, 1.0, 2.0, 4.1])
    assert reports[0][1] == "stack of 7" and dog.stalls == 1
    clock.now = 105.0
    dog.beat()  # the loop woke: the stall is over
    clock.now = 105.4
    dog.check()
    assert len(reports) == 4
    clock.now = 105.5
    dog.check()
    assert len(reports) == 5 and reports[-1][0] == pytest.approx(0.5) and dog.stalls == 2


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call on the loop's thread: what the watchdog must point at


async def test_the_watchdog_thread_logs_where_the_loop_thread_is_held() -> None:
    reports: list[tuple[float, str]] = []
    dog = LoopWatchdog(0.1, report=lambda held, stack: reports.append((held, stack)))
    dog.start(poll=0.01)
    task = asyncio.create_task(watch_loop_lag(lambda lag: None, interval=0.01, beat=dog.beat))
    try:
        await asyncio.sleep(0.05)
        assert reports == []  # a loop that wakes is not reported
        _hold_the_loop(0.3)
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        dog.stop()
    assert 1 <= len(reports) <= 2 and dog.stalls == 1  # at ~0.1 and ~0.2 s (a busy machine may miss a poll)
    assert all("_hold_the_loop" in stack and "time.sleep(seconds)" in stack for _, stack in reports)


def test_the_stack_of_a_thread_that_has_ended_says_so() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    assert thread.ident is not None
    assert stack_of(thread.ident) == "(the thread has ended)"
    assert "test_the_stack_of_a_thread" in stack_of(threading.get_ident())
