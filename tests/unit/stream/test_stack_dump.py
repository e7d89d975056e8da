"""SIGUSR1: every thread's and every asyncio task's stack in the log (pipeline.stream.process.dump_stacks)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from pipeline.stream.process import RepeatFilter, dump_stacks


async def _parked_here(event: asyncio.Event) -> None:
    await event.wait()


async def test_the_dump_shows_every_thread_and_every_task_and_is_never_cut_as_a_repeat(
        caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="sitting-still", daemon=True)
    thread.start()
    event = asyncio.Event()
    task = asyncio.create_task(_parked_here(event), name="parked-task")
    await asyncio.sleep(0)
    caplog.set_level(logging.WARNING, logger="pipeline.stream.process")
    try:
        text = dump_stacks()
        dump_stacks()
    finally:
        event.set()
        stop.set()
        await task
    assert "--- thread sitting-still" in text
    assert "--- task parked-task" in text and "_parked_here" in text  # where the task waits
    assert "test_the_dump_shows_every_thread" in text  # the running thread's own stack
    records = [r for r in caplog.records if r.getMessage().startswith("stack dump")]
    assert len(records) == 2
    repeat = RepeatFilter(window=30.0, clock=lambda: 0.0)
    assert all(repeat.filter(r) for r in records)  # the log's repeat filter lets both through


async def _outer(lock: asyncio.Lock) -> None:
    await _middle(lock)


async def _middle(lock: asyncio.Lock) -> None:
    async with lock:
        pass


async def test_the_dump_follows_a_task_down_to_what_it_waits_for() -> None:
    """An agent's task shows ``await coro`` at its top; the dump walks every await below it."""
    lock = asyncio.Lock()
    await lock.acquire()
    task = asyncio.create_task(_outer(lock), name="agent-like")
    await asyncio.sleep(0)
    try:
        text = dump_stacks()
    finally:
        lock.release()
        await task
    block = text.split("--- task agent-like", 1)[1].split("--- ", 1)[0]
    assert block.index("in _outer") < block.index("in _middle") < block.index("in acquire")
    assert "the task waits on <Future pending" in block  # the innermost: the lock's waiter
