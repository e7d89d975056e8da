"""Batches whose wait starts at their first message (pipeline.stream.batches), on a real Faust
stream over an in-memory channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import faust
import pytest

from pipeline.stream.batches import take_batches


class Clock:
    """A clock the test moves: when a message 'arrived' is what it says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, max_: int, within: float, clock: Clock | None = None,
                 settle: Callable[[], Awaitable[None]] | None = None) -> None:
        self.app = faust.App("test-batches", broker="kafka://localhost:1", store="memory://", web_enabled=False)
        self.app.flow_control.resume()
        self.channel = self.app.channel(maxsize=1000)
        self.stream = self.app.stream(self.channel)
        self.acked: list[Any] = []
        original = self.stream.ack

        async def ack(event: Any) -> bool:
            self.acked.append(event.value)
            return await original(event)

        self.stream.ack = ack  # type: ignore[method-assign]
        kwargs: dict[str, Any] = {"clock": clock} if clock else {}
        if settle is not None:
            kwargs["settle"] = settle
        self.batches: AsyncIterator[list[Any]] = take_batches(self.stream, max_, within, **kwargs)

    async def put(self, *values: int) -> None:
        for value in values:
            await self.channel.send(value=value)  # an event, as a topic's are

    async def next(self, timeout: float = 2.0) -> list[int]:
        return [event.value for event in await asyncio.wait_for(self.batches.__anext__(), timeout)]


async def _started(h: Harness) -> asyncio.Future[list[Any]]:
    """The first ``__anext__`` running (it subscribes the stream to the channel)."""
    first = asyncio.ensure_future(h.batches.__anext__())
    await asyncio.sleep(0.05)
    return first


async def test_a_full_buffer_goes_at_once() -> None:
    h = Harness(max_=3, within=30.0)
    first = await _started(h)
    await h.put(1, 2, 3, 4, 5, 6, 7)
    assert [e.value for e in await asyncio.wait_for(first, 2)] == [1, 2, 3]
    assert await h.next() == [4, 5, 6]  # never more than max_


async def test_a_lone_message_waits_within_from_its_arrival() -> None:
    h = Harness(max_=100, within=0.2)
    first = await _started(h)
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await h.put(1)
    await asyncio.sleep(0.05)
    await h.put(2)  # came within the first one's wait: the same batch
    assert [e.value for e in await asyncio.wait_for(first, 2)] == [1, 2]
    assert loop.time() - sent >= 0.19  # it waited for more, from the first message on


async def test_messages_that_waited_through_a_batch_go_when_it_ends() -> None:
    """Faust's take_events would wait ``within`` (here 30 s) again after the batch."""
    clock = Clock()
    h = Harness(max_=3, within=30.0, clock=clock)
    first = await _started(h)
    await h.put(1, 2, 3)
    assert [e.value for e in await asyncio.wait_for(first, 2)] == [1, 2, 3]
    await h.put(4, 5)  # while the batch is being handled
    await asyncio.sleep(0.05)
    clock.now += 31.0  # ... which took longer than within
    assert await h.next() == [4, 5]  # both: what the queue held was taken in first


async def test_acks_come_after_the_batch_is_handled() -> None:
    h = Harness(max_=2, within=30.0)
    first = await _started(h)
    await h.put(1, 2, 3, 4)
    await asyncio.wait_for(first, 2)
    assert h.acked == []  # being handled
    assert await h.next() == [3, 4]
    assert h.acked == [1, 2]  # asking for the next batch says the last one is done


async def test_a_batch_left_unfinished_is_not_acknowledged() -> None:
    h = Harness(max_=2, within=30.0)
    first = await _started(h)
    await h.put(1, 2)
    await asyncio.wait_for(first, 2)
    await h.batches.aclose()  # type: ignore[attr-defined]  # the agent was cancelled mid-batch
    assert h.acked == []  # read again after a restart, never committed
    assert h.stream.enable_acks  # the stream is as it was
    assert not h.stream._processors  # noqa: SLF001 - the buffer is detached


async def test_stopping_the_stream_closes_the_generator_without_acknowledging() -> None:
    h = Harness(max_=2, within=30.0)
    first = await _started(h)
    await h.put(1, 2)
    await asyncio.wait_for(first, 2)  # a batch being handled when the worker stops
    await h.stream.on_stop()  # Faust closes the buffering generators registered with the stream
    assert h.acked == []
    assert not h.stream._processors  # noqa: SLF001
    with pytest.raises(StopAsyncIteration):
        await h.next()


class Settle:
    """A settle step (the worker's: its writes in Kafka) that finishes when the test says so."""

    def __init__(self) -> None:
        self.started = 0
        self.release: list[asyncio.Event] = []

    async def __call__(self) -> None:
        self.started += 1
        done = asyncio.Event()
        self.release.append(done)
        await done.wait()


async def test_a_batch_is_acknowledged_once_settled_while_the_next_is_handled() -> None:
    settle = Settle()
    h = Harness(max_=2, within=30.0, settle=settle)
    first = await _started(h)
    await h.put(1, 2, 3, 4, 5, 6)
    await asyncio.wait_for(first, 2)
    assert await h.next() == [3, 4]  # handed out while [1, 2] settles
    assert settle.started == 1 and h.acked == []  # not settled: not acknowledged
    settle.release[0].set()
    await asyncio.sleep(0.01)
    assert h.acked == [1, 2]
    assert await h.next() == [5, 6]
    settle.release[1].set()
    await asyncio.sleep(0.01)
    assert h.acked == [1, 2, 3, 4]


async def test_at_most_one_batch_settles_while_the_next_is_handled() -> None:
    settle = Settle()
    h = Harness(max_=2, within=30.0, settle=settle)
    first = await _started(h)
    await h.put(1, 2, 3, 4, 5, 6)
    await asyncio.wait_for(first, 2)
    assert await h.next() == [3, 4]
    third = asyncio.ensure_future(h.next())
    await asyncio.sleep(0.05)
    assert not third.done() and settle.started == 1  # [1, 2] must settle before [3, 4] starts to
    settle.release[0].set()
    assert await asyncio.wait_for(third, 2) == [5, 6]
    assert h.acked == [1, 2] and settle.started == 2


async def test_a_batch_still_settling_when_the_stream_stops_is_not_acknowledged() -> None:
    settle = Settle()
    h = Harness(max_=2, within=30.0, settle=settle)
    first = await _started(h)
    await h.put(1, 2, 3, 4)
    await asyncio.wait_for(first, 2)
    assert await h.next() == [3, 4]
    await h.stream.on_stop()
    settle.release[0].set()
    await asyncio.sleep(0.01)
    assert h.acked == []  # both read again after a restart
    assert h.stream.enable_acks and not h.stream._processors  # noqa: SLF001
