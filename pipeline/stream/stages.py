"""The bodies of the worker's three agents: thin shells around the pure core.

The profile stage works in batches so Redis is written in one pipeline per
batch. Within a batch the order is: fold and evaluate every message, write
Redis, then store the profiles, then send messages on. Redis first means a
crash between the two leaves profiles behind Redis, never ahead: the
redelivered messages are folded again and re-send the same idempotent writes.
The other order could store a profile whose Redis write never happened, and the
redelivered event would then be skipped as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import orjson
from aiokafka.partitioner import DefaultPartitioner
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pipeline.identity import route
from pipeline.processor import (
    Forget,
    Handover,
    MergeIn,
    Result,
    SubjectProcessor,
    pack,
    peek_next_check,
    unpack,
)
from pipeline.profile import Profile
from pipeline.store.details import details_commands, details_of
from pipeline.stream import envelope, reconcile
from pipeline.stream.dead_letter import record
from pipeline.stream.faust_compat import event_context
from schemas.decode import EventRejected, FieldError, decode_event
from schemas.events import Event

if TYPE_CHECKING:
    from faust.types import EventT, StreamT

    from pipeline.stream.worker import Worker

log = logging.getLogger(__name__)
SYNC_KEY = b"__sync__"
BACKFILL_CHUNK = 2000


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError))


@dataclass
class _State:
    profile: Profile | None
    next_check: int | None
    event: "EventT"
    dirty: bool = False
    delete: bool = False


class Stages:
    def __init__(self, worker: "Worker") -> None:
        self.w = worker
        self._partitioner = DefaultPartitioner()
        self._partitions = list(range(worker.settings.topic_partitions))
        self._subjects: dict[int, set[str]] = {}  # partition -> subjects stored there

    # --- ingest: validate, then resolve identity here or re-key ---------------

    async def ingest(self, stream: "StreamT") -> None:
        w = self.w
        await w.watcher.ready.wait()
        async for batch in stream.take_events(w.settings.batch_size, within=w.settings.batch_wait_seconds):
            for event in batch:
                await self._until_done(lambda e=event: self._ingest_one(e), "ingest")

    async def _ingest_one(self, event: "EventT") -> None:
        w = self.w
        w.metrics.events_in.labels("ingest").inc()
        raw: bytes = event.value
        try:
            parsed = decode_event(raw)
            self._check_policy(parsed)
        except EventRejected as rejected:
            await self._dead_letter(event, raw, rejected, "ingest")
            return
        except Exception as exc:  # noqa: BLE001 - a bad message must not stop the worker
            log.exception("cannot validate a message")
            await self._dead_letter(event, raw, EventRejected(f"validation failed: {exc!r}"), "ingest")
            return
        if not parsed.visitor_id:
            await w.by_subject.send(key=f"c:{parsed.customer_id}".encode(), value=envelope.encode_event(raw))
        elif self._keyed_by_visitor(event, parsed.visitor_id):
            # The storefront keyed it by cookie, so this partition owns the cookie's identity
            # entry: resolve it here and save a hop through the re-keying topic.
            with event_context(event):
                await self._route(event, parsed, raw, parsed.visitor_id)
        else:
            await w.by_visitor.send(key=parsed.visitor_id.encode(), value=envelope.encode_event(raw))

    def _keyed_by_visitor(self, event: "EventT", visitor_id: str) -> bool:
        """True when the message sits on the partition the cookie ID hashes to (murmur2)."""
        message = event.message
        if message.key != visitor_id.encode():
            return False
        count = self.w.app.consumer.topic_partitions(message.topic)
        return count == self.w.settings.topic_partitions and message.partition == self.partition_of(visitor_id)

    def _check_policy(self, event: Event) -> None:
        """Valid JSON can still be refused: a clock far ahead, or the wrong kind of group."""
        if event.occurred_at > self.w.now() + self.w.max_future:
            raise EventRejected("event from the future", (FieldError(
                "occurred_at", f"{event.occurred_at.isoformat()} is more than "
                f"{self.w.max_future} ahead of the worker's clock", "future_timestamp"),))
        problem = self.w.registry.check(event)
        if problem:
            raise EventRejected("group type not allowed", (FieldError(*problem, "group_type"),))

    async def _dead_letter(self, event: "EventT", raw: bytes | None, rejected: EventRejected,
                           stage: str) -> None:
        message = event.message
        value = record(raw, rejected, stage=stage, topic=message.topic, partition=message.partition,
                       offset=message.offset, key=message.key)
        await self.w.dead_letter.send(key=message.key, value=value)
        self.w.metrics.dead_lettered.labels(stage, rejected.reason.split(":")[0]).inc()
        log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset,
                    rejected)

    # --- identity: cookie -> customer ---------------------------------------

    async def identity(self, stream: "StreamT") -> None:
        """Events whose cookie partition is elsewhere arrive here re-keyed by cookie."""
        w = self.w
        await w.watcher.ready.wait()
        async for event in stream.events():
            w.metrics.events_in.labels("identity").inc()
            visitor = event.key.decode()
            message = envelope.decode(event.value)
            if isinstance(message, Forget):
                if w.identity.get(message.visitor_id) == message.customer_id:
                    del w.identity[message.visitor_id]
                continue
            try:
                parsed = decode_event(message)  # type: ignore[arg-type]
            except EventRejected as rejected:
                await self._dead_letter(event, event.value, rejected, "identity")
                continue
            await self._until_done(lambda: self._route(event, parsed, message, visitor), "identity")  # type: ignore[arg-type]

    async def _route(self, event: "EventT", parsed: Event, raw: bytes, visitor: str) -> None:
        """Whose profile the event folds into; link the cookie and hand it over at first login.

        Must run where ``visitor``'s identity entry lives (in its partition's context).
        """
        w = self.w
        routing = route(parsed, visitor, w.identity.get(visitor))
        if routing.handover:
            await w.by_subject.send(key=f"v:{visitor}".encode(), value=envelope.encode(routing.handover))
        await w.by_subject.send(key=routing.subject.encode(), value=envelope.encode_event(raw))
        if routing.link:  # last: a retry after a failed send must still see the cookie unlinked
            w.identity[visitor] = routing.link

    # --- profiles: fold, evaluate, write --------------------------------------

    async def profiles(self, stream: "StreamT") -> None:
        w = self.w
        await w.watcher.ready.wait()
        async for batch in stream.take_events(w.settings.batch_size, within=w.settings.batch_wait_seconds):
            started = time.perf_counter()
            await self._until_done(lambda b=batch: self._process_batch(b), "profiles")
            w.metrics.batch_seconds.observe(time.perf_counter() - started)

    async def _until_done(self, work: Callable[[], Awaitable[None]], stage: str) -> None:
        """Retry a unit of work until it succeeds: Faust acks a batch even when its body raises.

        A message that cannot be processed is dead-lettered inside ``work``; what
        reaches here is the infrastructure failing (Kafka, Redis), so retrying is
        right, and safe because every step is idempotent. Staged Redis writes are
        dropped first: the retry stages them again from the stored profiles.
        """
        delay = 0.1
        while True:
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.w.writer.discard()
                self.w.metrics.retries.labels(stage).inc()
                log.exception("%s: processing failed; retrying in %.1fs", stage, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _process_batch(self, batch: list["EventT"]) -> None:
        w = self.w
        processor = SubjectProcessor(w.registry, w.policy)
        now = self.w.now()
        states: dict[str, _State] = {}
        outgoing: list[tuple[str, Forget | MergeIn]] = []
        for event in batch:
            w.metrics.events_in.labels("profiles").inc()
            message = envelope.decode(event.value)
            if isinstance(message, (envelope.Sync, envelope.Reconcile)):
                await self._commit(states, outgoing)
                states, outgoing = {}, []
                if isinstance(message, envelope.Sync):
                    await self._backfill(event, message.partition, now)
                else:
                    await self._reconcile(event, message)
                continue
            subject = event.key.decode()
            state = states.get(subject) or self._load(subject, event)
            state.event = event
            started = time.perf_counter()
            details_before = details_of(state.profile)
            try:
                result = self._handle(processor, state, subject, message, now)
            except Exception as exc:  # noqa: BLE001 - a bad message must not stop the worker
                log.exception("cannot process a message for %s", subject)
                raw = message if isinstance(message, bytes) else event.value
                await self._dead_letter(event, raw, EventRejected(f"processing failed: {exc!r}"), "profiles")
                continue
            w.metrics.evaluation_seconds.observe(time.perf_counter() - started)
            self._apply(state, subject, result)
            w.writer.stage_commands(details_commands(
                w.keys, subject, details_before, details_of(state.profile), result.delete))
            states[subject] = state
            outgoing += result.outgoing
        await self._commit(states, outgoing)

    def _load(self, subject: str, event: "EventT") -> _State:
        with event_context(event):
            stored = self.w.profiles.get(subject)
        if stored is None:
            return _State(None, None, event)
        profile, next_check = unpack(stored)
        return _State(profile, next_check, event)

    def _handle(self, processor: SubjectProcessor, state: _State, subject: str,
                message: envelope.Message, now: datetime) -> Result:
        if isinstance(message, bytes):
            return processor.on_event(state.profile, state.next_check, subject, decode_event(message), now)
        if isinstance(message, envelope.Recheck):
            self.w.metrics.rechecks.inc()
            return processor.on_recheck(state.profile, state.next_check, now)
        if isinstance(message, Handover):
            return processor.on_handover(state.profile, subject, message)
        if isinstance(message, MergeIn):
            return processor.on_merge_in(state.profile, state.next_check, subject, message, now)
        raise ValueError(f"unexpected message {type(message).__name__} on the profile stage")

    def _apply(self, state: _State, subject: str, result: Result) -> None:
        self.w.writer.stage(subject, result)
        m = self.w.metrics.membership_changes
        m.labels("joined").inc(len(result.joined))
        m.labels("left").inc(len(result.left) + len(result.dropped))
        if result.delete:
            state.profile, state.next_check, state.dirty, state.delete = None, None, True, True
        elif result.store:
            state.profile, state.next_check, state.dirty, state.delete = (
                result.profile, result.next_check, True, False)

    async def _commit(self, states: dict[str, _State], outgoing: list[tuple[str, Any]]) -> None:
        """Redis, then the table, then messages on: see the module docstring."""
        await self.flush_redis()
        w = self.w
        for subject, state in states.items():
            if not state.dirty:
                continue
            partition = state.event.message.partition
            with event_context(state.event):
                if state.delete:
                    if subject in w.profiles:
                        del w.profiles[subject]
                    self._subjects.get(partition, set()).discard(subject)
                    w.schedule.set(subject, None)
                else:
                    w.profiles[subject] = pack(state.profile, state.next_check)  # type: ignore[arg-type]
                    self._subjects.setdefault(partition, set()).add(subject)
                    w.schedule.set(subject, state.next_check)
        w.metrics.scheduled.set(len(w.schedule))
        for key, message in outgoing:
            topic = w.by_visitor if isinstance(message, Forget) else w.by_subject
            await topic.send(key=key.encode(), value=envelope.encode(message))

    async def flush_redis(self) -> None:
        """Write what is staged; retry (never drop) while Redis is unreachable."""
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                await self.w.writer.flush()
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                self.w.metrics.redis_retries.inc()
                log.warning("Redis write failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.w.metrics.redis_flush_seconds.observe(time.perf_counter() - started)
            return

    # --- back-fill: new and changed groups over stored profiles ----------------

    async def request_sync(self) -> None:
        """Ask each partition this worker owns to catch up with the current definitions."""
        w = self.w
        for tp in w.app.assignor.assigned_actives():
            if tp.topic == w.by_subject.get_topic_name():
                await w.by_subject.send(key=SYNC_KEY, value=envelope.encode(envelope.Sync(tp.partition)),
                                        partition=tp.partition)

    async def _backfill(self, event: "EventT", partition: int, now: datetime) -> None:
        w = self.w
        registry = w.registry
        with event_context(event):
            stored = w.applied.get(f"p{partition}")
        applied: dict[str, str] = orjson.loads(stored) if stored else {}
        changed, removed = registry.changed_since(applied)
        if not changed and not removed:
            return
        processor = SubjectProcessor(registry, w.policy)
        subjects = sorted(self._subjects.get(partition, ()))
        total = len(subjects)
        log.info("partition %d: back-filling %d new/changed and %d removed group(s) over %d profile(s)",
                 partition, len(changed), len(removed), total)
        progress = w.metrics.backfill_progress.labels(str(partition))
        started = time.perf_counter()
        for start in range(0, total, BACKFILL_CHUNK):
            updates: list[tuple[str, Result]] = []
            with event_context(event):
                for subject in subjects[start:start + BACKFILL_CHUNK]:
                    value = w.profiles.get(subject)
                    if value is None:
                        continue
                    profile, next_check = unpack(value)
                    result = processor.on_backfill(profile, next_check, changed, now)
                    if result.store:
                        w.writer.stage(subject, result)
                        updates.append((subject, result))
            await self.flush_redis()
            with event_context(event):
                for subject, result in updates:
                    w.profiles[subject] = pack(result.profile, result.next_check)  # type: ignore[arg-type]
                    w.schedule.set(subject, result.next_check)
            done = min(start + BACKFILL_CHUNK, total)
            w.metrics.backfilled.inc(done - start)
            progress.set(done / total)
            log.info("partition %d: back-fill %d/%d profiles (%.0f%%)", partition, done, total,
                     100 * done / total)
            await asyncio.sleep(0)  # let heartbeats and other partitions run
        with event_context(event):
            w.applied[f"p{partition}"] = orjson.dumps(registry.fingerprints)
        progress.set(1.0)
        log.info("partition %d: back-fill done in %.1fs", partition, time.perf_counter() - started)

    # --- reconcile: Redis from the profile table -----------------------------

    def partition_of(self, subject: str) -> int:
        return self._partitioner(subject.encode(), self._partitions, self._partitions)

    async def _reconcile(self, event: "EventT", message: envelope.Reconcile) -> None:
        w, partition = self.w, message.partition
        with event_context(event):
            values = {s: v for s in sorted(self._subjects.get(partition, ())) if (v := w.profiles.get(s))}
        groups, mirrors, details = reconcile.stored_state(values)
        stats = reconcile.ReconcileStats(partition)
        await reconcile.find_stale(w.redis, w.keys, partition, self.partition_of, groups, stats)
        w.writer.stage_commands(stats.commands)
        for subject in sorted(groups):
            w.writer.stage_commands(reconcile.rewrite(w.keys, subject, sorted(groups[subject]),
                                                      mirrors.get(subject, []), details[subject]))
            stats.subjects += 1
            if w.writer.pending > 5000:
                await self.flush_redis()
        await self.flush_redis()
        report = w.keys.reconcile_report(message.request_id)
        await w.redis.hset(report, str(partition), orjson.dumps(stats.as_dict()))
        await w.redis.expire(report, 86400)
        log.info("partition %d reconciled: %s", partition, stats.as_dict())

    def rebuild_partition_index(self) -> None:
        """After recovery: which stored subject lives on which partition, and their re-checks."""
        w = self.w
        owned = {tp.partition for tp in w.app.assignor.assigned_actives()
                 if tp.topic == w.by_subject.get_topic_name()}
        self._subjects = {}
        for subject, value in w.profiles.items():
            partition = self.partition_of(subject)
            if partition not in owned:
                continue
            self._subjects.setdefault(partition, set()).add(subject)
            w.schedule.set(subject, peek_next_check(value))
        w.metrics.scheduled.set(len(w.schedule))

    # --- time -------------------------------------------------------------------

    async def send_due_rechecks(self) -> None:
        w = self.w
        if not w.watcher.ready.is_set() or w.app.rebalancing:
            return
        today = w.policy.day_of(self.w.now())
        for subject in w.schedule.pop_due(today):
            await w.by_subject.send(key=subject.encode(), value=envelope.encode(envelope.Recheck()))
        w.metrics.scheduled.set(len(w.schedule))
