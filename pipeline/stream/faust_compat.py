"""Where the project reaches into Faust's internals, and why (this module, and the modules it names).

**The current event.** Faust decides which changelog partition a table write goes to from the
*current event*, a context variable it sets while an agent iterates a stream.
Batching (:mod:`pipeline.stream.batches`, as ``stream.take_events()``; the profile
stage needs it so Redis is written once per batch, not once per event) consumes
the stream in another task, so inside the batch there is no current event and table writes raise.
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
Here ``put()`` remembers each message and ``flush()`` returns only once the
broker has acknowledged every one (an empty queue is not enough: a message can
be between the queue and aiokafka); a stopping worker is bounded by its
shutdown watchdog (:mod:`pipeline.stream.process`), never by giving up early.

**A lost message is never forgotten** (:class:`SendLost`). A message the
producer gives up on (a non-retriable error such as a record the topic refuses
as too large, or ``producer_request_timeout`` spent) is only logged by Faust
(``Topic._on_published``) and resolves its future with the error. It used to
drop out of the set ``flush()`` waits on as soon as it failed, so a flush that
started after the failure returned and Faust committed past a table write that
is not in the changelog. The table in memory then runs ahead of its changelog:
a retried batch folds nothing again (its events are in the profile already),
so nothing re-sends the record, and the next owner of the partition rebuilds
the table without it. Now the failure is kept: every later ``flush()`` raises
:class:`SendLost` (so no commit follows), and each ``send_lost_listeners``
callback is told at once; the worker's listener exits (status 71) so that a restart
rebuilds the table from the changelog and reads again all that was not
committed (:meth:`pipeline.stream.worker.Worker._send_lost`).

**A topic's partition count on every worker** (:func:`topic_partition_count`,
:func:`topic_partitions_from_cluster`). Faust's
``Consumer.topic_partitions`` reads aiokafka's ``GroupCoordinator._metadata_snapshot``,
which only the consumer group's *leader* fills (from ``_group_subscription``, set on
the leader alone; aiokafka 0.11). Every other worker gets None, so the ingest stage
could never tell that an event sits on its cookie's partition and sent every event
through the re-keying topic: with two workers, one took 85% of the events at a
tenth of the speed (found by the bench's two-worker step; not reported upstream
as far as we found). The count comes from the consumer's cluster metadata instead,
which every member keeps. Faust's own ``topic_partitions``
(faust/transport/drivers/aiokafka.py, ``AIOKafkaConsumerThread``) reads the same
snapshot for tables: ``Collection._verify_source_topic_partitions`` compares the
source topic's count with the changelog's before a table write. On the leader
the snapshot holds 0 for a topic whose metadata was not known when it assigned
the partitions (a changelog topic created moments before), until the next
assignment: every write to that table raised ``PartitionsMismatch`` ("has 12
partitions, but the changelog ... has 0"), the profile stage retried it with
messages unacknowledged, so the next rebalance waited on them (``wait_empty``)
and the leader fell out of the group for good (a three-worker fault run, 600 s
without progress). :func:`topic_partitions_from_cluster` answers from the
cluster metadata on every worker, None while a topic is not known (Faust then
skips the check and makes it again on the next write).

**Re-read what a fetch dropped** (:mod:`pipeline.stream.rewind`, which holds the
consumer overrides below). Faust's consumer sometimes hands a stream a
record further on than the last one it handed on (seen after every start and
rebalance: a whole fetch of up to 500 records skipped per partition, from table
recovery pausing and resuming the stream partitions), and ``_new_offset`` then
commits through the jump. :func:`~pipeline.stream.rewind.getmany_rewinding`
(``Consumer.getmany``) holds such a record back and seeks the partition to the
first missing offset, so they are read, in order, by a later fetch; only offsets
the broker no longer has (below the log start, after retention) are let go.

**No commit through a gap.** Faust's consumer treats a jump in the offsets it
fetched (``Consumer._add_gap`` in ``_drain_messages``) as a gap, and
``_new_offset`` commits through gaps as if those offsets were processed. Gaps
are real only on compacted or transactional topics; the pipeline's input
topics are neither, so a jump there means Faust fetched messages it never
handed to a stream (it drops the rest of a fetch when flow stops or the group
generation changes mid-fetch). Recording them as done would commit unprocessed
messages. :func:`~pipeline.stream.rewind.add_gap_never_as_processed` records
nothing: the offsets stay unacknowledged, the commit waits below them, the next
fetch seeks back to them (from the offset due, which after a seek is the read
offset itself, not the one after it), and every such jump is logged and
counted (``cg_offset_gaps_total``); :func:`drain_in_order` hands on nothing
more of that partition's fetch. :func:`~pipeline.stream.rewind.new_offset_no_hole`
(``Consumer._new_offset``) commits only a run that starts at the partition's
committed offset (before the first commit, its log start); a partition whose
commits wait for an offset never acknowledged has a *hole* there, read again
after ``HOLE_SECONDS``. The events topic must not be written with Kafka
transactions.

**Nothing handed on while the app rebalances** (issue 16's stall, found with
three workers and a join). Faust 0.15.3's recovery (faust/tables/recovery.py,
``Recovery._resume_streams``) resumes the stream partitions, awaits
``consumer.perform_seek()`` with the flow already running, and only then calls
``app.flow_control.resume()``, which clears every stream queue. Records fetched
and handed on in that window are dropped without being acknowledged, while the
read offset moved past them. Here ``getmany`` hands on nothing of an acked topic
while ``app.rebalancing`` is true (it is until the end of ``_resume_streams``);
what it held back is read again from the committed offset recovery seeks to.

**Nothing left behind at a partition's end.** Upstream ``perform_seek`` seeks
only partitions that have a committed offset (aiokafka's ``seek_to_committed``
skips the others), so one with nothing committed stays where a fetch held back
during the rebalance left it; and upstream ``getmany`` drops fetched records
silently (a whole fetch when the flow stops, the rest of a partition's fetch
when ``on_buffer_full`` takes it out of the active partitions). When the dropped
records were the partition's last, no later record shows the jump: a restarted
worker sat with every events partition at its end and nothing handed on.
:func:`~pipeline.stream.rewind.perform_seek_tracked` reads such a partition
again from its log start, and before every fetch aiokafka's position must equal
the offset due next (:func:`~pipeline.stream.rewind.fetch_position`).

**Seeks that stick.** Faust's ``Consumer.seek`` calls aiokafka's ``seek`` from
the event loop's thread while aiokafka runs in the consumer thread, possibly
draining a fetch of that partition (faust/transport/drivers/aiokafka.py,
``ThreadDelegateConsumer._seek``); and ``perform_seek`` (every partition to its
committed offset) left our record of the next offset due and any pending
re-read as they were, so a re-read queued before it then sought *forward*,
past records the cleared queues had dropped. The re-reads seek in the consumer
thread and wait (``seek_wait``), and :func:`~pipeline.stream.rewind.perform_seek_tracked`
(``Consumer.perform_seek``) notes each committed offset as the next one due and
drops the re-reads it supersedes. A hole is noted at the partition's current
commit base and replaced when that moves. It was kept with ``setdefault``,
and a hole is read again only while the committed offset is still its own: one
noted at another base (the log start, noted while a newly assigned partition's
committed offset was not yet known) hid the real one for good, a partition
stalled with ``/healthz`` ready.

**Batches that wait from their first message** (:mod:`pipeline.stream.batches`).
``Stream.take_events`` waits its whole ``within`` after every batch, so under a
steady flow each event waited that long on top of the batch before it; and it
acknowledges a batch's events whenever its generator is closed, handled or not.
:func:`~pipeline.stream.batches.take_batches` follows it but for those two
points, using the same stream internals (the passive buffer processor), and
lets a handled batch settle (its writes reach Kafka) while the next one runs,
acknowledging it after.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import EventT
from faust.types.tuples import FutureMessage

from pipeline.stream.rewind import (
    add_gap_never_as_processed,
    gap_listeners,
    getmany_rewinding,
    new_offset_no_hole,
    perform_seek_tracked,
)

__all__ = ["SendLost", "event_context", "flush_until_empty", "gap_listeners", "install_overrides", "put_tracked",
           "send_lost_listeners", "topic_partition_count"]
log = logging.getLogger(__name__)
UPSTREAM_FLUSH = ProducerBuffer.flush  # kept for the reproduction in tests/integration
UPSTREAM_PUT = ProducerBuffer.put
UPSTREAM_TOPIC_PARTITIONS = AIOKafkaConsumerThread.topic_partitions  # kept for the tests' comparison


@contextmanager
def event_context(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class SendLost(RuntimeError):
    """A message put in the producer buffer (a table's changelog record) was never written."""


#: Told of each message a producer gave up on: (its buffer, the message, the error). A worker
#: acts only on its own producer's (``buffer is app.producer.buffer``): the list is process-wide.
send_lost_listeners: list[Callable[[ProducerBuffer, FutureMessage, BaseException], None]] = []


class _Tracked:
    """A buffer's messages not yet acknowledged, and those that failed (kept for good)."""

    def __init__(self, buffer: ProducerBuffer) -> None:
        self.buffer = weakref.ref(buffer)
        self.unsent: set[FutureMessage] = set()
        self.lost: list[tuple[str, BaseException]] = []

    def __call__(self, fut: FutureMessage) -> None:  # the done-callback of every message put
        self.unsent.discard(fut)
        if fut.cancelled():
            error: BaseException = asyncio.CancelledError("the message was cancelled before it was sent")
        elif (failed := fut.exception()) is not None:
            error = failed
        else:
            return
        self.lost.append((_topic_of(fut), error))
        buffer = self.buffer()
        if buffer is not None and not fut.cancelled():  # cancelled: Faust is stopping; the flush refuses
            for listener in list(send_lost_listeners):
                listener(buffer, fut, error)

    def raise_if_lost(self) -> None:
        if self.lost:
            topic, error = self.lost[0]
            raise SendLost(f"{len(self.lost)} buffered message(s) were never written to Kafka (first: {topic}: "
                           f"{type(error).__name__}: {error}); nothing may be committed") from error


def _topic_of(fut: FutureMessage) -> str:
    try:
        return str(fut.message.channel.get_topic_name())
    except Exception:  # noqa: BLE001 - only for the message
        return "?"


def _tracked(buffer: ProducerBuffer) -> _Tracked:
    tracked = buffer.__dict__.get("_cg_tracked")
    if tracked is None:
        tracked = buffer.__dict__["_cg_tracked"] = _Tracked(buffer)
    return cast("_Tracked", tracked)


def put_tracked(self: ProducerBuffer, fut: FutureMessage) -> None:
    """``ProducerBuffer.put`` that remembers the message until the broker has acknowledged it,
    and for good if it failed (module docstring)."""
    tracked = _tracked(self)
    tracked.unsent.add(fut)
    fut.add_done_callback(tracked)
    UPSTREAM_PUT(self, fut)


async def flush_until_empty(self: ProducerBuffer) -> None:
    """``ProducerBuffer.flush`` that returns only when every message put in the buffer was
    acknowledged by the broker (the queue being empty is not enough: one message can be
    between the queue and aiokafka). Raises :class:`SendLost` when any message put since the
    buffer was made failed, before this flush or during it: no commit may follow."""
    tracked = _tracked(self)
    unsent = tracked.unsent
    waited = 0.0
    tracked.raise_if_lost()
    while unsent:
        if self.state != "running":
            raise RuntimeError(f"cannot flush: the producer buffer is {self.state} with {len(unsent)} "
                               "message(s) unsent")
        done, _ = await asyncio.wait(list(unsent), timeout=1.0)
        tracked.raise_if_lost()
        if not done:
            waited += 1.0
            if waited in (10.0, 60.0, 300.0):
                log.warning("producer flush: %d message(s) not acknowledged for %.0fs (is Kafka reachable?)",
                            len(unsent), waited)


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
    A jump past the record after the last one handed on (a gap this loop sees
    although ``getmany`` checked it) is noted by ``_add_gap`` and nothing more of
    that partition's fetch is handed on: the next fetch reads the gap first.

    It never commits. Upstream commits here once ``broker_commit_every`` (10,000)
    messages were acknowledged, and no record is handed on until the commit is
    done, which first flushes the producer: in a latency run (3,600 events/s of
    batched records) that held the fetch 0.12-0.16 s about every 10 s, and with a
    batch settling while the next one writes (``take_batches``), the flush waits
    for those writes too. The commit timer (``broker_commit_interval``, 1 s)
    commits instead, beside the fetch.
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
                gapped: set[Any] = set()  # partitions with a gap in this fetch: read again, in order
                async for tp, message in fetch:
                    # no await between getmany's check of this record and the checks below
                    offset, last = message.offset, read_offset[tp]
                    if tp in gapped or (last is not None and offset < last):
                        continue  # after a gap, or before where a seek put the partition: read already
                    if suspended():
                        break  # a rebalance began: nothing more of this fetch is handed on
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        real = (tp, last + 1) in self.__dict__.get("_cg_real_gaps", ())  # below the log start
                        await self._add_gap(tp, last + 1, offset)
                        if not real:
                            gapped.add(tp)  # not handed on: the next fetch reads the gap first
                            continue
                    await callback(message)
                    if message.generation_id != app.consumer_generation_id:
                        break  # handed on across a rebalance: the stream skips it; read again
                    read_offset[tp] = offset
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
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
    Consumer.perform_seek = perform_seek_tracked  # type: ignore[method-assign]  # the override is the point (module docstring)
    AIOKafkaConsumerThread.topic_partitions = topic_partitions_from_cluster  # type: ignore[method-assign]  # the override is the point (module docstring)
    ProducerBuffer.put = put_tracked  # type: ignore[method-assign]  # the upstream fix, with flush
    ProducerBuffer.flush = flush_until_empty  # type: ignore[method-assign]  # the override is the point (module docstring)


def topic_partitions_from_cluster(self: AIOKafkaConsumerThread, topic: str) -> int | None:
    """``AIOKafkaConsumerThread.topic_partitions`` from the cluster metadata (module docstring)."""
    consumer = self._consumer
    if consumer is None:
        return None
    partitions = consumer._client.cluster.partitions_for_topic(topic)
    return len(partitions) if partitions else None


def topic_partition_count(consumer: Any, topic: str) -> int | None:
    """Partitions of ``topic`` per the consumer's cluster metadata (None: not known yet).

    ``consumer`` is Faust's app consumer; see the module docstring for why not
    ``consumer.topic_partitions(topic)``.
    """
    thread = getattr(consumer, "_thread", None)
    client = getattr(getattr(thread, "_consumer", None), "_client", None)
    if client is None:
        return None
    partitions = client.cluster.partitions_for_topic(topic)
    return len(partitions) if partitions else None
