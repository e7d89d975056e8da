"""The worker's agents and timers: thin shells around the pure core.

:mod:`pipeline.stream.ingest` validates and routes storefront events and folds
the ones whose profile lives on their partition; :mod:`pipeline.stream.profile_batch`
is the unit of profile work both it and the profile stage commit. This module
holds what they share (one lock, Redis flushing, retries, dead letters, the
subject partitioner) and the maintenance work: back-fill of new or changed
groups, reconcile, and time-based re-checks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pipeline.processor import SubjectProcessor
from pipeline.profile import counted
from pipeline.profile.stored import peek_next_check, unpack
from pipeline.stream import envelope, reconcile
from pipeline.stream.dead_letter import record
from pipeline.stream.delivery import delivered
from pipeline.stream.faust_compat import event_context
from pipeline.stream.ingest import Ingest
from pipeline.stream.partitioning import SubjectPartitioner
from pipeline.stream.profile_batch import ProfileBatch
from schemas.decode import EventRejected, decode_event
from schemas.events import Event

if TYPE_CHECKING:
    from faust.types import EventT, StreamT
    from faust.types.tuples import FutureMessage

    from pipeline.stream.worker import Worker

log = logging.getLogger(__name__)
SYNC_KEY = b"__sync__"
BACKFILL_CHUNK = 2000


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError))


class Stages:
    def __init__(self, worker: Worker) -> None:
        self.w = worker
        self.partitioner = SubjectPartitioner(worker.settings.topic_partitions)
        self.subjects_by_partition: dict[int, set[str]] = {}  # partition -> subjects stored there
        # One profile/identity mutation at a time: the agents share the tables and the
        # Redis writer, and interleaving at an await could lose an update.
        self.lock = asyncio.Lock()
        self.ingest_stage = Ingest(self)

    # --- the agents ---------------------------------------------------------------

    async def ingest(self, stream: StreamT) -> None:
        await self.ingest_stage.run(stream)

    async def identity(self, stream: StreamT) -> None:
        await self.ingest_stage.identity(stream)

    async def profiles(self, stream: StreamT) -> None:
        """Messages re-keyed to their subject's partition: events, re-checks, hand-overs, merges."""
        w = self.w
        await w.watcher.ready.wait()
        async for batch in stream.take_events(w.settings.batch_size, within=w.settings.batch_wait_seconds):
            await self.timed_batch("profiles", batch, self._profile_batch)

    async def _profile_batch(self, events: list[EventT]) -> None:
        async with self.lock:
            work = ProfileBatch(self, "profiles", self.w.now())
            for event in events:
                message = envelope.decode(event.value)
                if isinstance(message, (envelope.Sync, envelope.Reconcile)):
                    await work.commit()
                    if isinstance(message, envelope.Sync):
                        await self._backfill(event, message.partition)
                    else:
                        await self._reconcile(event, message)
                    continue
                subject = event.key.decode()
                if isinstance(message, bytes) and subject.startswith("v:"):
                    # An anonymous event re-keyed to its cookie before the cookie's login was
                    # handled, arriving after it: it belongs to the customer now, as it would
                    # had it arrived first and moved with the hand-over. Same partition as the
                    # cookie's identity entry, so the answer does not depend on timing.
                    with event_context(event):
                        linked = self.w.identity.get(subject[2:])
                    if linked:
                        if not self.in_cookie_profile(subject[2:], message, event):
                            work.forward_event(f"c:{linked}", message)
                        continue
                await work.handle(subject, message, event)  # type: ignore[arg-type]
            await work.commit()

    # --- what the stages share -------------------------------------------------------

    def in_cookie_profile(self, visitor: str, event: Event | bytes, context: EventT) -> bool:
        """True when an anonymous event is already counted in its cookie's stored profile.

        Such an event goes to the customer with the cookie's hand-over; sent on by
        itself as well (it is read again after a crash or a rewind, once the cookie is
        linked) it could reach the customer before the hand-over and be counted twice.
        """
        with event_context(context):
            stored = self.w.profiles.get(f"v:{visitor}")
        if stored is None:  # the usual case once the hand-over is done: no decoding at all
            return False
        parsed = decode_event(event) if isinstance(event, bytes) else event
        return counted(unpack(stored)[0], parsed, self.w.policy)

    async def send_to_subject(self, subject: str, value: bytes) -> FutureMessage:
        """On the re-keying topic, to the partition that owns ``subject``."""
        return await self.w.by_subject.send(key=subject.encode(), value=value, force=True,
                                            partition=self.partitioner.of_subject(subject))

    async def timed_batch(self, stage: str, batch: list[EventT],
                          work: Callable[[list[EventT]], Awaitable[None]]) -> None:
        """Run a batch until it succeeds, and record its size and time (the latency budget)."""
        started = time.perf_counter()
        await self.until_done(lambda: work(batch), stage)
        self.w.metrics.batch_seconds.labels(stage).observe(time.perf_counter() - started)
        self.w.metrics.batch_events.labels(stage).observe(len(batch))

    async def until_done(self, work: Callable[[], Awaitable[None]], stage: str) -> None:
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
                # The batch's table writes in Kafka before it is acknowledged: a worker's
                # local RocksDB may hold writes whose changelog records a SIGKILL lost, and
                # table recovery then replays older records over them. A batch that was
                # acknowledged must never be undone that way (a cookie's deleted profile
                # coming back after its hand-over, and merging twice).
                await self.w.app.producer.flush()
                self.w.health.recovered(stage)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.w.writer.discard()
                self.w.metrics.retries.labels(stage).inc()
                self.w.health.failing(stage, exc)
                log.exception("%s: processing failed; retrying in %.1fs", stage, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def dead_letter(self, event: EventT, raw: bytes | None, rejected: EventRejected,
                          stage: str) -> None:
        message = event.message
        value = record(raw, rejected, stage=stage, topic=message.topic, partition=message.partition,
                       offset=message.offset, key=message.key)
        await self.w.dead_letter.send(key=message.key, value=value, force=True)
        self.w.metrics.dead_lettered.labels(stage, rejected.reason.split(":")[0]).inc()
        log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset,
                    rejected)

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
                if "redis" not in self.w.health.failing_now:  # one line per outage, not per attempt
                    log.warning("Redis write failed (%s); retrying with backoff until it answers", exc)
                self.w.health.failing("redis", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if "redis" in self.w.health.failing_now:
                log.warning("Redis answers again: writes resumed")
                self.w.health.recovered("redis")
            self.w.metrics.redis_flush_seconds.observe(time.perf_counter() - started)
            return

    # --- back-fill: new and changed groups over stored profiles ----------------

    def owned_partitions(self) -> list[int]:
        """The profile-stage partitions this worker owns now (those of the re-keying topic)."""
        topic = self.w.by_subject.get_topic_name()
        return sorted(tp.partition for tp in self.w.app.assignor.assigned_actives() if tp.topic == topic)

    async def request_sync(self) -> None:
        """Ask each partition this worker owns to catch up with the current definitions."""
        for partition in self.owned_partitions():
            await self.w.by_subject.send(key=SYNC_KEY, value=envelope.encode(envelope.Sync(partition)),
                                         force=True, partition=partition)

    async def _backfill(self, event: EventT, partition: int) -> None:
        w = self.w
        now = w.now()
        registry = w.registry
        with event_context(event):
            stored = w.applied.get(f"p{partition}")
        applied: dict[str, str] = orjson.loads(stored) if stored else {}
        changed, removed = registry.changed_since(applied)
        if not changed and not removed:
            return
        processor = SubjectProcessor(registry, w.policy)
        subjects = sorted(self.subjects_by_partition.get(partition, ()))
        total = len(subjects)
        log.info("partition %d: back-filling %d new/changed and %d removed group(s) over %d profile(s)",
                 partition, len(changed), len(removed), total)
        progress = w.metrics.backfill_progress.labels(str(partition))
        started = time.perf_counter()
        for start in range(0, total, BACKFILL_CHUNK):
            updates: list[tuple[str, bytes, int | None]] = []
            with event_context(event):
                for subject in subjects[start:start + BACKFILL_CHUNK]:
                    value = w.profiles.get(subject)
                    if value is None:
                        continue
                    changed_value = processor.backfill_stored(value, changed, now)
                    if changed_value is not None:
                        result, new_value = changed_value
                        w.writer.stage(subject, result.change)
                        updates.append((subject, new_value, result.next_check))
            await self.flush_redis()
            with event_context(event):
                for subject, new_value, next_check in updates:
                    w.profiles[subject] = new_value
                    w.schedule.set(subject, next_check)
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

    async def _reconcile(self, event: EventT, message: envelope.Reconcile) -> None:
        w, partition = self.w, message.partition
        with event_context(event):
            values = {s: v for s in sorted(self.subjects_by_partition.get(partition, ())) if (v := w.profiles.get(s))}
        groups, mirrors, details = reconcile.stored_state(values)
        stats = reconcile.ReconcileStats(partition)
        await reconcile.find_stale(w.redis, w.keys, partition, self.partitioner.of_subject, groups, stats)
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
        owned = set(self.owned_partitions())
        self.subjects_by_partition = {}
        for subject, value in w.profiles.items():
            partition = self.partitioner.of_subject(subject)
            if partition not in owned:
                continue
            self.subjects_by_partition.setdefault(partition, set()).add(subject)
            w.schedule.set(subject, peek_next_check(value))
        w.metrics.scheduled.set(len(w.schedule))

    # --- self-healing Redis ----------------------------------------------------------

    async def check_redis(self) -> None:
        """Rebuild a partition's Redis state when Redis has lost it (its sentinel key is gone).

        A Redis restarted without persistence, a failover to an empty replica or a
        FLUSHALL all take the sentinels with them. The owner of each partition then
        asks its profile stage to reconcile the partition (the same rewrite as
        ``customer-groups reconcile``), in order with the partition's other work, and
        sets the sentinel again: a loss during the repair is noticed and repaired too.
        """
        w = self.w
        if not w.watcher.ready.is_set() or w.app.rebalancing:
            return
        owned = self.owned_partitions()
        if not owned:
            return
        try:
            pipe = w.redis.pipeline(transaction=False)
            for partition in owned:
                pipe.exists(w.keys.sentinel(partition))
            present = await pipe.execute()
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            return
        lost = [p for p, found in zip(owned, present, strict=False) if not found]
        for partition in lost:
            request = f"repair-{int(time.time())}-p{partition}"
            log.warning("partition %d: Redis has lost this partition's state (sentinel gone): "
                        "rebuilding it from the profile table (%s)", partition, request)
            w.metrics.redis_repairs.inc()
            repair = envelope.encode(envelope.Reconcile(partition, request))
            await delivered([await w.by_subject.send(key=b"__reconcile__", value=repair, force=True,
                                                     partition=partition)])
            await w.redis.set(w.keys.sentinel(partition), request)

    # --- time -------------------------------------------------------------------

    async def send_due_rechecks(self) -> None:
        w = self.w
        if not w.watcher.ready.is_set() or w.app.rebalancing:
            return
        today = w.policy.day_of(self.w.now())
        for subject in w.schedule.pop_due(today):
            await self.send_to_subject(subject, envelope.encode(envelope.Recheck()))
        w.metrics.scheduled.set(len(w.schedule))
