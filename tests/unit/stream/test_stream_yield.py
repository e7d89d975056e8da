"""Faust's stream iterator yields to the event loop every N messages, not before each one
(pipeline.stream.stream_yield), measured on a real Faust stream over an in-memory channel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import faust
import faust._cython.streams as compiled
import pytest

from pipeline.stream import stream_yield


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = compiled.sleep
    yield
    compiled.sleep = before


async def _loop_turns_while_reading(messages: int) -> int:
    """How many event-loop turns pass while a Faust stream reads ``messages`` queued values."""
    app = faust.App("test-stream-yield", broker="kafka://localhost:1", store="memory://", web_enabled=False)
    app.flow_control.resume()
    channel = app.channel(maxsize=messages + 10)
    iterator = app.stream(channel).__aiter__()
    first = asyncio.ensure_future(iterator.__anext__())
    await asyncio.sleep(0.05)  # the stream subscribed to the channel
    for value in range(messages + 1):
        await channel.put(value)
    assert await asyncio.wait_for(first, 5) == 0
    turns = 0
    loop = asyncio.get_running_loop()

    def tick() -> None:
        nonlocal turns
        turns += 1
        loop.call_soon(tick)

    loop.call_soon(tick)
    got = [await iterator.__anext__() for _ in range(messages)]
    assert got == list(range(1, messages + 1))  # every value, in order
    return turns


async def test_a_stream_yields_every_n_messages() -> None:
    assert stream_yield.install(64)
    assert stream_yield.installed() == 64
    turns = await _loop_turns_while_reading(640)
    assert 8 <= turns <= 14  # about one turn per 64 messages


async def test_one_restores_fausts_turn_per_message() -> None:
    assert stream_yield.install(1)
    assert stream_yield.installed() == 1
    assert compiled.sleep is asyncio.sleep
    assert await _loop_turns_while_reading(300) >= 300


async def test_the_ready_awaitable_does_not_suspend() -> None:
    sleep = stream_yield.YieldEvery(3)
    loop = asyncio.get_running_loop()
    ran: list[int] = []
    loop.call_soon(ran.append, 1)
    await sleep(0)
    await sleep(0)
    assert ran == []  # two calls: no turn of the loop
    await sleep(0)
    assert ran == [1]  # the third yields


async def test_a_real_delay_still_sleeps() -> None:
    sleep = stream_yield.YieldEvery(1000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sleep(0.05)
    assert loop.time() - started >= 0.04
    assert sleep.calls == 0  # not counted as the iterator's sleep(0)


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        stream_yield.YieldEvery(0)
