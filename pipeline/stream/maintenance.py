"""Partition-wide work: back-fill of new or changed groups, reconcile, re-checks, the Redis sentinel.

Back-fill and reconcile run *inside* the profile stage's stream, as control
messages sent to each partition (:meth:`Maintenance.request_sync`, the
sentinel check, ``customer-groups reconcile``), so no live event for those
subjects can interleave with them. The timers (re-checks, the sentinel check)
only send messages; the work itself always happens in the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from pipeline.processor import SubjectProcessor
from pipeline.stream import backfill, envelope, reconcile
from pipeline.stream.context import StageContext
from pipeline.stream.delivery import delivered
from pipeline.stream.effects import Effects, is_connection_error

log = logging.getLogger(__name__)
SYNC_KEY = b"__sync__"
RECONCILE_KEY = b"__reconcile__"


class Maintenance:
    def __init__(self, ctx: StageContext, effects: Effects) -> None:
        self.ctx = ctx
        self.effects = effects

    # --- back-fill: new and changed groups over stored profiles ----------------

    async def request_sync(self) -> None:
        """Ask each partition this worker owns to catch up with the current definitions."""
        ctx = self.ctx
        for partition in ctx.placement.owned_partitions():
            await ctx.sinks.to_partition(partition, SYNC_KEY, envelope.encode(envelope.Sync(partition)))

    async def backfill(self, event: Any, partition: int) -> None:
        ctx = self.ctx
        now = ctx.now()
        registry = ctx.registry()
        stored = ctx.applied.get(f"p{partition}", event)
        applied: dict[str, str] = orjson.loads(stored) if stored else {}
        changed, removed = registry.changed_since(applied)
        if not changed and not removed:
            return
        subjects = ctx.profiles.subjects(partition)
        total = len(subjects)
        log.info("partition %d: back-filling %d new/changed and %d removed group(s) over %d profile(s)",
                 partition, len(changed), len(removed), total)
        progress = ctx.metrics.backfill_progress.labels(str(partition))
        started = time.perf_counter()
        reported = [0]

        def store(updates: Sequence[backfill.Update]) -> None:
            for subject, new_value, next_check in updates:
                ctx.profiles.put_raw(subject, new_value, event)
                ctx.schedule.set(subject, next_check)

        def done(count: int) -> None:
            ctx.metrics.backfilled.inc(count - reported[0])
            reported[0] = count
            progress.set(count / total)
            log.info("partition %d: back-fill %d/%d profiles (%.0f%%)", partition, count, total, 100 * count / total)

        processor = SubjectProcessor(registry, ctx.policy, split_layout=ctx.settings.split_profiles)
        await backfill.backfill(
            subjects, lambda subject: ctx.profiles.raw(subject, event), processor, changed, now, new_writer=ctx.writer.fresh,
            flush=self.effects.flush_redis, store=store, done=done)
        ctx.applied.set(f"p{partition}", orjson.dumps(registry.fingerprints), event)
        progress.set(1.0)
        log.info("partition %d: back-fill done in %.1fs", partition, time.perf_counter() - started)

    # --- reconcile: Redis from the profile table -----------------------------

    async def reconcile(self, message: envelope.Reconcile) -> None:
        ctx, partition = self.ctx, message.partition
        values = {s: v for s in ctx.profiles.subjects(partition) if (v := ctx.profiles.raw(s))}
        groups, mirrors, details = reconcile.stored_state(values)
        stats = reconcile.ReconcileStats(partition)
        await reconcile.find_stale(ctx.redis, ctx.keys, partition, ctx.partitioner.of_subject, groups, stats)
        ctx.writer.stage_commands(stats.commands)
        for subject in sorted(groups):
            ctx.writer.stage_commands(reconcile.rewrite(ctx.keys, subject, sorted(groups[subject]),
                                                        mirrors.get(subject, []), details[subject]))
            stats.subjects += 1
            if ctx.writer.pending > 5000:
                await self.effects.flush_redis()
        await self.effects.flush_redis()
        report = ctx.keys.reconcile_report(message.request_id)
        await ctx.redis.hset(report, str(partition), orjson.dumps(stats.as_dict()))
        await ctx.redis.expire(report, 86400)
        log.info("partition %d reconciled: %s", partition, stats.as_dict())

    def rebuild_partition_index(self) -> None:
        """After recovery: which stored subject lives on which partition, and their re-checks."""
        ctx = self.ctx
        owned = set(ctx.placement.owned_partitions())
        for subject, next_check in ctx.profiles.rebuild_index(owned):
            ctx.schedule.set(subject, next_check)
        ctx.metrics.scheduled.set(len(ctx.schedule))

    # --- self-healing Redis ----------------------------------------------------------

    async def check_redis(self) -> None:
        """Rebuild a partition's Redis state when Redis has lost it (its sentinel key is gone).

        A Redis restarted without persistence, a failover to an empty replica or a
        FLUSHALL all take the sentinels with them. The owner of each partition then
        asks its profile stage to reconcile the partition (the same rewrite as
        ``customer-groups reconcile``), in order with the partition's other work, and
        sets the sentinel again: a loss during the repair is noticed and repaired too.
        The worker's timer calls it; not during a rebalance, which ends with
        :meth:`check_redis_at_recovery`.
        """
        ctx = self.ctx
        if not ctx.ready.is_set() or ctx.placement.rebalancing():
            return
        await self.check_redis_at_recovery()

    async def check_redis_at_recovery(self) -> None:
        """:meth:`check_redis` once the tables are recovered, before the streams resume.

        Nothing of this assignment has been processed yet, so a partition with no
        stored profile has nothing to lose: a first start, marked but not reported
        or counted as a repair. Only here does "no stored profile" tell a first start
        from a loss: the timer's first check comes seconds later, when a first start
        over a waiting backlog has stored profiles whose Redis writes are all there,
        and a check then called that a loss (a warning, a repair counted, every
        partition rewritten while the backlog is read).
        """
        ctx = self.ctx
        owned = ctx.placement.owned_partitions()
        if not owned:
            return
        try:
            pipe = ctx.redis.pipeline(transaction=False)
            for partition in owned:
                pipe.exists(ctx.keys.sentinel(partition))
            present = await pipe.execute()
        except Exception as exc:
            if not is_connection_error(exc):
                raise
            return
        lost = [p for p, found in zip(owned, present, strict=True) if not found]
        for partition in lost:
            request = f"repair-{int(time.time())}-p{partition}"
            if ctx.profiles.subjects(partition):
                log.warning("partition %d: Redis has lost this partition's state (sentinel gone): "
                            "rebuilding it from the profile table (%s)", partition, request)
                ctx.metrics.redis_repairs.inc()
            else:  # a first start: nothing stored, nothing lost (the reconcile still clears leftovers)
                log.info("partition %d: no sentinel yet and no stored profile: marking it (%s)", partition, request)
            repair = envelope.encode(envelope.Reconcile(partition, request))
            await delivered([await ctx.sinks.to_partition(partition, RECONCILE_KEY, repair)])
            await ctx.redis.set(ctx.keys.sentinel(partition), request)

    # --- time -------------------------------------------------------------------

    async def send_due_rechecks(self) -> None:
        ctx = self.ctx
        if not ctx.ready.is_set() or ctx.placement.rebalancing():
            return
        today = ctx.policy.day_of(ctx.now())
        recheck = envelope.encode(envelope.Recheck())
        await ctx.sinks.to_subjects([(subject, recheck) for subject in ctx.schedule.pop_due(today)])
        ctx.metrics.scheduled.set(len(ctx.schedule))
