"""The event-loop lag watcher reports a loop held by blocking work, and nothing when it is free."""

from __future__ import annotations

import asyncio
import contextlib
import time

from pipeline.stream.loop_lag import watch_loop_lag


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
