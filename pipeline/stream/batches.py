"""Batches of a stream's events whose wait starts at their first message, not after the last batch.

Faust's ``Stream.take_events(max_, within)`` (faust/streams.py, faust-streaming
0.15.3) waits ``within`` seconds after *every* batch unless ``max_`` messages are
buffered, and takes nothing in while a batch is being handled. Under a steady
flow an event therefore waits for the batch that is running, then the whole
``within``, then its own batch: the latency step measured batches of about 170
messages every 80 ms at half the maximum rate, one of which was the 20 ms timer
(docs/benchmarks.md).

:func:`take_batches` keeps everything else of ``take_events``: the stream is
consumed passively into a buffer, nothing is added to it while a batch is
handled, and at most ``max_`` events go in one batch. What changes:

* **When a batch goes**: once its *first* message has waited ``within``, counted
  from when that message reached the stream (for a message that came while the
  last batch ran, before that batch ended), or at once when ``max_`` are
  buffered. A message that waited through a batch does not wait ``within``
  more; what the channel's queue already holds is taken in first, so the batch
  is not cut to the one message that happened to be handed over first.
* **Acknowledgements**: a batch's events are acknowledged when the caller asks
  for the next batch, after it has handled them. ``take_events`` acknowledges
  them in a ``finally``, also when the generator is closed mid-batch (the agent
  cancelled, the stream stopping); here those stay unacknowledged, so their
  offsets are not committed and the messages are read again.
* **Settling while the next batch runs** (``settle``, the worker's stages pass
  "everything sent so far is in Kafka"): a handled batch is acknowledged only
  once ``settle()`` has returned, and it runs while the next batch is gathered
  and handled, not before. At most one batch settles at a time (the next waits
  for it), so acknowledgements stay in batch order; a batch still settling when
  the generator closes is not acknowledged. Measured at 2,000 events/s: an
  ingest batch had waited 14-18 ms of its ~36 ms for its changelog records.

Faust is BSD-licensed; this function follows ``take_events`` line by line where
it does not differ.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mode.utils.futures import notify


def take_batches(stream: Any, max_: int, within: float, clock: Callable[[], float] = time.monotonic,
                 settle: Callable[[], Awaitable[None]] | None = None) -> AsyncIterator[list[Any]]:
    """Lists of at most ``max_`` events of ``stream``; see the module's docstring for when each goes.

    ``settle``: what must be done before a handled batch is acknowledged (its
    writes in Kafka), run while the next batch is gathered and handled.

    The generator is registered with the stream, as ``take_events``'s are, so that
    stopping the stream closes it and detaches its buffer.
    """
    batches = _take_batches(stream, max_, within, clock, settle)
    stream._active_agens.add(batches)  # noqa: SLF001 - Faust's own register of buffering generators
    return batches


async def _take_batches(stream: Any, max_: int, within: float, clock: Callable[[], float],
                        settle: Callable[[], Awaitable[None]] | None) -> AsyncIterator[list[Any]]:
    events: list[Any] = []
    settling: asyncio.Future[None] | None = None  # the last handled batch: settled, then acknowledged
    full, consumed, started = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first_at = 0.0  # when the buffer's first event reached the stream
    queued_since: float | None = None  # messages were left in the queue when the last batch ended
    consuming: asyncio.Future[None] | None = None  # set while the caller handles a batch
    enable_acks: bool = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, first_at, queued_since
        arrived = clock()
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take_batches found no current event")
            if not events:
                first_at = arrived if queued_since is None else min(arrived, queued_since)
                queued_since = None
                started.set()
            events.append(event)
            if len(events) >= max_:
                full.set()
                consumed.clear()
                await stream.wait(consumed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # as take_events: the stream crashes, loudly
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # the events are acknowledged here, after the caller handled them
    stream.add_processor(add_to_buffer)
    channel = aiter(stream.channel)
    stream._enable_passive(channel)  # noqa: SLF001 - as take_events does
    queue = channel.queue
    try:
        while not stream.should_stop:
            if not events:
                # A bounded wait, so that a stopping stream is noticed.
                await stream.wait_for_stopped(started, timeout=max(within, 0.1))
                if not events:
                    continue
            await _fill(stream, events, full, queue, max_, first_at + within, clock)
            consuming = stream.loop.create_future()
            handled = False
            yielded_at = clock()
            try:
                yield list(events)
                handled = True
            finally:
                if handled:  # not when the caller left mid-batch (cancelled, crashed): read again
                    if settle is None:
                        for event in events:
                            await stream.ack(event)
                    else:
                        # At most one batch settling while the next is handled; acknowledgements
                        # in batch order (the one before settled first).
                        if settling is not None and not settling.done():
                            await settling
                        settling = asyncio.ensure_future(_settle_then_ack(stream, settle, list(events)))
                events.clear()
                started.clear()
                # Messages still queued (the buffer was full) came during the batch, at the latest
                # now: count their wait from when the batch went, the earliest they can have come.
                queued_since = None if queue.empty() else yielded_at
                notify(consuming)  # let the buffer take messages again
                full.clear()
                consumed.set()
    finally:
        if settling is not None and not settling.done():
            settling.cancel()  # stopping: a batch not yet settled is not acknowledged, so read again
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)  # noqa: SLF001 - as take_events does


async def _settle_then_ack(stream: Any, settle: Callable[[], Awaitable[None]], events: list[Any]) -> None:
    await settle()
    for event in events:
        await stream.ack(event)


async def _fill(stream: Any, events: list[Any], full: asyncio.Event, queue: Any, max_: int,
                deadline: float, clock: Callable[[], float]) -> None:
    """Wait until ``deadline`` or ``max_`` events; past the deadline, take in what the queue already holds."""
    remaining = deadline - clock()
    if remaining > 0 and len(events) < max_:
        await stream.wait_for_stopped(full, timeout=remaining)
    # Each loop turn lets the passive stream hand over a run of queued messages; bounded,
    # so a queue that never empties (a fast producer) cannot hold the batch back.
    for _ in range(max_):
        if len(events) >= max_ or queue.empty() or stream.should_stop:
            return
        await asyncio.sleep(0)
