"""The one place that reaches into Faust's internals, and why.

**The current event.** Faust decides which changelog partition a table write goes to from the
*current event*, a context variable it sets while an agent iterates a stream.
``stream.take_events()`` (batching, which the profile stage needs so Redis is
written once per batch, not once per event) consumes the stream in another
task, so inside the batch there is no current event and table writes raise.
Upstream: faust-streaming issues #497 and #300. We set the variable to each
event of the batch while handling it. faust-streaming is pinned in
``constraints.txt``; ``tests/integration`` fails loudly if this stops working.

**A flush that flushes** (:func:`install_overrides`). Before it commits
offsets, Faust flushes its producer so that what the processed messages
produced (table changelog records above all) is in Kafka first. But
``ProducerBuffer.flush()`` (faust/transport/producer.py, faust-streaming
0.15.3) gives up as soon as 0.1 s pass without a message leaving its buffer,
and returns with messages still queued: a reproduction put 300 changelog
writes in it and 298 were still there when ``flush()`` returned. The offsets
were then committed past messages whose table writes were never produced,
and a worker that took the partition over rebuilt the table without them.
**Re-read what a fetch dropped.** Faust's consumer sometimes hands a stream a
record further on than the last one it handed on (seen after every start and
rebalance: a whole fetch of up to 500 records skipped per partition, from table
recovery pausing and resuming the stream partitions), and ``_new_offset`` then
commits through the jump. :func:`getmany_rewinding` holds such a record back
and seeks the partition to the first missing offset, so they are read, in
order, by a later fetch; only offsets the broker no longer has (below the log
start, after retention) are let go.

**No commit through a gap.** Faust's consumer treats a jump in the offsets it
fetched (``Consumer._add_gap`` in ``_drain_messages``) as a gap, and
``_new_offset`` commits through gaps as if those offsets were processed. Gaps
are real only on compacted or transactional topics; the pipeline's input
topics are neither, so a jump there means Faust fetched messages it never
handed to a stream (it drops the rest of a fetch when flow stops or the group
generation changes mid-fetch). Recording them as done would commit unprocessed
messages. The override records nothing: the offsets stay unacknowledged, the
commit waits below them, the next fetch seeks back to them, and every such
jump is logged and counted (``cg_offset_gaps_total``). The events topic must
therefore not be written with Kafka transactions.

Here ``put()`` remembers each message and ``flush()`` returns only once the
broker has acknowledged every one (an empty queue is not enough: a message can
be between the queue and aiokafka); a stopping worker is bounded by its
shutdown watchdog (:mod:`pipeline.stream.process`), never by giving up early.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.producer import ProducerBuffer
from faust.types import EventT
from faust.types.tuples import FutureMessage
from faust.utils.functional import consecutive_numbers

log = logging.getLogger(__name__)
UPSTREAM_FLUSH = ProducerBuffer.flush  # kept for the reproduction in tests/integration
UPSTREAM_PUT = ProducerBuffer.put
UPSTREAM_ADD_GAP = Consumer._add_gap
UPSTREAM_GETMANY = Consumer.getmany
#: How long an unacknowledged offset may block commits before it is read again.
HOLE_SECONDS = 10.0
#: Called with (topic, partition, first, last) for every gap the consumer saw (metrics, health).
gap_listeners: list[Callable[[str, int, int, int], None]] = []


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def put_tracked(self: ProducerBuffer, fut: FutureMessage) -> None:
    """``ProducerBuffer.put`` that remembers the message until the broker has acknowledged it."""
    unsent: set[FutureMessage] = self.__dict__.setdefault("_cg_unsent", set())
    unsent.add(fut)
    fut.add_done_callback(unsent.discard)
    UPSTREAM_PUT(self, fut)


async def flush_until_empty(self: ProducerBuffer) -> None:
    """``ProducerBuffer.flush`` that returns only when every message put in the buffer was
    acknowledged by the broker (the queue being empty is not enough: one message can be
    between the queue and aiokafka). A message that failed raises: no commit may follow."""
    unsent: set[FutureMessage] = self.__dict__.get("_cg_unsent", set())
    waited = 0.0
    while unsent:
        if self.state != "running":
            raise RuntimeError(f"cannot flush: the producer buffer is {self.state} with {len(unsent)} "
                               "message(s) unsent")
        done, _ = await asyncio.wait(list(unsent), timeout=1.0)
        failed = [f for f in done if not f.cancelled() and f.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} buffered message(s) could not be produced") from failed[0].exception()
        if not done:
            waited += 1.0
            if waited in (10.0, 60.0, 300.0):
                log.warning("producer flush: %d message(s) not acknowledged for %.0fs (is Kafka reachable?)",
                            len(unsent), waited)


async def add_gap_never_as_processed(self: Consumer, tp: Any, offset_from: int, offset_to: int) -> None:
    """``Consumer._add_gap`` that records only gaps :func:`getmany_rewinding` found to be real:
    skipped offsets are never committed as processed."""
    real = self.__dict__.get("_cg_real_gaps", set())
    if (tp, offset_from) in real:
        real.difference_update({(tp, offset_from), (tp, offset_from - 1), (tp, offset_from + 1)})
        await UPSTREAM_ADD_GAP(self, tp, offset_from, offset_to)
        return
    log.warning("%s[%d]: the consumer skipped offsets %d-%d without handing them to a stream; they are "
                "not committed as processed and will be read again", tp.topic, tp.partition, offset_from,
                offset_to)
    for listener in gap_listeners:
        listener(tp.topic, tp.partition, offset_from, offset_to)
    # Read them again: the next getmany seeks back (not now: _drain_messages is about to set
    # the read offset to the record after the gap, which would make it drop the re-read ones).
    pending: dict[Any, int] = self.__dict__.setdefault("_cg_rewind", {})
    pending[tp] = min(offset_from, pending.get(tp, offset_from))


async def getmany_rewinding(self: Consumer, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """``Consumer.getmany`` that never hands a stream a record past one it skipped.

    For a topic whose offsets are acknowledged, the next record must follow the
    last one handed on (``_read_offset``). A record further on means records in
    between were fetched and dropped: it is held back, the partition is sought
    back to the first missing offset (``seek`` also resets ``_read_offset``), and
    the rest of this fetch for that partition is held back too; the next fetch
    reads them in order, however often Faust drops them again. The only jump let
    through is one the broker confirms: the missing offsets are below the
    partition's log start (retention deleted them), and Faust then records it
    as a gap, as upstream would.
    """
    holding: set[Any] = set()
    # tp -> (the read offset we left, the next offset due): Faust's _read_offset holds the last
    # offset handed on, or after a seek the next one to read; this tells the two apart.
    tracked: dict[Any, tuple[int, int]] = self.__dict__.setdefault("_cg_tracked", {})
    pending: dict[Any, int] = self.__dict__.setdefault("_cg_rewind", {})
    holes: dict[Any, tuple[int, float]] = self.__dict__.setdefault("_cg_holes", {})
    log_start: dict[Any, int] = self.__dict__.setdefault("_cg_log_start", {})
    unknown = [tp for tp in self.assignment() if tp not in log_start and self.app.topics.acks_enabled_for(tp.topic)]
    if unknown:  # where a partition with nothing committed begins (new_offset_no_hole needs it)
        log_start.update({tp: offset for tp, offset in (await self.earliest_offsets(*unknown)).items()
                          if offset is not None})
    for tp, (committed, since) in list(holes.items()):  # an offset never acknowledged: read it again
        if time.monotonic() - since >= HOLE_SECONDS and self._committed_offset.get(tp) in (committed, None):
            del holes[tp]
            log.warning("%s[%d]: offset %d was never acknowledged; reading from it again", tp.topic,
                        tp.partition, committed)
            pending[tp] = min(committed, pending.get(tp, committed))
    for tp, first in list(pending.items()):  # gaps _drain_messages saw: read them again first
        del pending[tp]
        if tp in self.assignment():
            await self.seek(tp, first)
            tracked[tp] = (first, first)
    async for tp, message in UPSTREAM_GETMANY(self, timeout):
        if tp in holding:
            continue
        read = self._read_offset.get(tp)
        known = tracked.get(tp)
        due = None if read is None else known[1] if known is not None and known[0] == read else read
        offset = message.offset
        if due is not None and offset > due and self.app.topics.acks_enabled_for(tp.topic):
            start = (await self.earliest_offsets(tp)).get(tp)
            if start is None or start <= due:
                holding.add(tp)
                log.warning("%s[%d]: offsets %d-%d were fetched but not handed to a stream; reading them "
                            "again", tp.topic, tp.partition, due, offset - 1)
                for listener in gap_listeners:
                    listener(tp.topic, tp.partition, due, offset - 1)
                await self.seek(tp, due)
                if due:
                    tracked[tp] = (due, due)
                continue
            log.warning("%s[%d]: offsets %d-%d are gone from the log (retention): going on from %d",
                        tp.topic, tp.partition, due, start - 1, offset)
            self.__dict__.setdefault("_cg_real_gaps", set()).update({(tp, due), (tp, due + 1)})
        tracked[tp] = (offset, offset + 1)  # _drain_messages sets _read_offset to it next
        yield tp, message


def new_offset_no_hole(self: Consumer, tp: Any) -> int | None:
    """``Consumer._new_offset`` that never commits past an offset that was not acknowledged.

    Upstream returns None only when the lowest acknowledged offset is more than
    one past the committed one (``min(acked) - committed > 1``), while the
    committed offset is the next one to consume: with ``committed = N`` and
    ``acked = [N+1, N+2]`` it commits N+3, past message N, which was never
    acknowledged (a record whose delivery a rebalance abandoned). With nothing
    committed yet it commits any run at all: acked ``[7, 8]`` commits 9, past
    offsets 0-6. Here the acknowledged run must start at the committed offset,
    or, before the first commit, at the partition's log start (asked once per
    partition by :func:`getmany_rewinding`); gaps are added as upstream (only
    real ones are recorded, :func:`add_gap_never_as_processed`).
    """
    acked = self._acked[tp]
    if not acked:
        return None
    gap_for_tp = self._gap[tp]
    if gap_for_tp:
        max_offset = max(acked)
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            filled = [o for entry in candidates for o in range(entry.begin, entry.end)]
            acked.extend(filled)
            gap_for_tp.chop(0, max(filled[-1], max_offset + 1))
    acked.sort()
    committed = self._committed_offset[tp]
    if committed is None:  # nothing committed yet (or offset 0): the run must start at the log start
        committed = self.__dict__.get("_cg_log_start", {}).get(tp)
        if committed is None:
            return None  # not known yet: getmany_rewinding asks the broker before the next fetch
    if acked[0] > committed:
        self.__dict__.setdefault("_cg_holes", {}).setdefault(tp, (committed, time.monotonic()))
        return None
    self.__dict__.get("_cg_holes", {}).pop(tp, None)
    batch = next(consecutive_numbers(acked))
    acked[: len(batch)] = []
    self._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1


async def drain_in_order(self: Consumer, fetcher: Any) -> None:
    """``Consumer._drain_messages`` that hands each fetched message on whole, or not at all.

    Upstream wraps every hand-on in ``wait_first(callback(message),
    suspend_flow.wait())``: when a rebalance suspends the flow it abandons the
    callback and still moves the read offset past the message, and it does so
    for the rest of the fetch too, so records are skipped and later re-read out
    of order. It also costs four futures per record (about 45% of Faust's CPU per
    record in an experiment, docs/reliability.md). Here a suspended flow stops the fetch *before*
    a message is handed on; a message handed on across a rebalance (the
    callback waited for the flow to resume) carries the old generation, which
    the stream skips, so the read offset stays before it and the fetch ends.
    Recovery then seeks every partition to its committed offset, as upstream.
    """
    callback = self.callback
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    read_offset = self._read_offset
    suspended = self.suspend_flow.is_set
    acks_enabled_for = self.app.topics.acks_enabled_for
    app = self.app
    since_yield = 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            self.diag.set_flag(CONSUMER_FETCHING)
            fetch = cast("AsyncGenerator[tuple[Any, Any], None]", self.getmany(timeout=1.0))
            await asyncio.sleep(0)  # getmany can return at once, again and again
            if not self.should_stop:
                async for tp, message in fetch:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset, last = message.offset, read_offset[tp]
                    if last is not None and offset < last:
                        continue  # before where a seek put the partition: read already
                    if suspended():
                        break  # a rebalance began: nothing more of this fetch is handed on
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await callback(message)
                    if message.generation_id != app.consumer_generation_id:
                        break  # handed on across a rebalance: the stream skips it; read again
                    read_offset[tp] = offset
                await fetch.aclose()
            self.diag.unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        self.diag.unset_flag(CONSUMER_FETCHING)


def install_overrides() -> None:
    """Apply the overrides above (idempotent); the worker calls it before it builds its app."""
    Consumer._drain_messages = drain_in_order  # type: ignore[method-assign]  # the override is the point (module docstring)
    Consumer.getmany = getmany_rewinding  # type: ignore[method-assign]  # the override is the point (module docstring)
    Consumer._new_offset = new_offset_no_hole  # type: ignore[method-assign]  # the override is the point (module docstring)
    Consumer._add_gap = add_gap_never_as_processed  # type: ignore[method-assign]  # the override is the point (module docstring)
    ProducerBuffer.put = put_tracked  # type: ignore[method-assign]  # the upstream fix, with flush
    ProducerBuffer.flush = flush_until_empty  # type: ignore[method-assign]  # the override is the point (module docstring)
