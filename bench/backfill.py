"""Step 5, back-fill: populating a newly applied dynamic group over 1M stored profiles.

Measured at the worker's own level, not through a Faust worker: one Faust
worker would first have to fold events into a million profiles, which does
not fit the time budget. So the benchmark builds a million stored values
(``pack``) from profiles folded from the run's generated traffic, then does
the worker's own back-fill loop over them (:mod:`pipeline.stream.backfill`): chunks
of ``BACKFILL_CHUNK`` subjects, each ``SubjectProcessor.backfill_stored`` (decode,
evaluate the new group, the new stored value re-using the encoded profile) →
``MembershipWriter.stage``, one bulk write per chunk to the real Redis (in flight
while the next chunk is evaluated), then the changed values stored. Only the Faust
table access is missing (a dict here; the worker's memory store is a dict too).

The million profiles are customers (so that step 6 can export a 1M-member
group): each is a copy of a folded profile (customer or cookie visitor, in
their traffic proportions) under a new customer ID, with an e-mail, names and
a join date, and its customer details hash written to Redis as the worker
would (not timed).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bench.common import say
from pipeline.processor import SubjectProcessor
from pipeline.profile import ProfilePolicy, Stamped
from pipeline.profile.stored import pack, unpack
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.store import bulk
from pipeline.store.connection import AsyncRedis, connect
from pipeline.store.details import details_commands, details_of
from pipeline.store.keys import KeySpace
from pipeline.store.writer import Command, MembershipWriter
from pipeline.stream.backfill import BACKFILL_CHUNK, Update, backfill
from schemas.groups import GroupDefinition

NEW_GROUP = GroupDefinition.model_validate({
    "id": 900, "name": "Seen in the last 12 months", "type": "dynamic",
    "description": "Benchmark: a new group that nearly every stored profile joins.",
    "rules": [["lastseen", "in the last", "12 months"]]})


@dataclass
class BackfillResult:
    profiles: int
    seconds: float
    flush_seconds: float
    joined: int
    redis_commands: int
    build_seconds: float
    members: int
    guests: int
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.profiles / self.seconds


async def _write(redis: AsyncRedis, commands: list[Command]) -> None:
    await bulk.execute(redis, commands)


async def build_population(templates: list[bytes], count: int, keys: KeySpace,
                           redis: AsyncRedis) -> dict[str, bytes]:
    """``count`` stored customer profiles copied from ``templates``; their details hashes go to Redis."""
    store: dict[str, bytes] = {}
    commands: list[Command] = []
    joined_at = datetime(2025, 9, 1, tzinfo=UTC)
    for i in range(count):
        profile, next_check = unpack(templates[i % len(templates)])
        cid = f"BF{i:07d}"
        subject = f"c:{cid}"
        cookies = max(1, len(profile.visitor_ids))
        profile.subject, profile.customer_id, profile.customer_stamp = subject, cid, None
        profile.visitor_ids = {f"bf{i}-{j}" for j in range(cookies)}
        stamp = f"bf-signup-{i}"
        if profile.email is None:
            profile.email = Stamped(f"{cid.lower()}@example.com", joined_at, stamp)
            profile.first_name = Stamped("Sam", joined_at, stamp)
            profile.last_name = Stamped(cid, joined_at, stamp)
            profile.date_joined = Stamped(date(2025, 9, 1), joined_at, stamp)
        store[subject] = pack(profile, next_check)
        commands += details_commands(keys, subject, {}, details_of(profile), False)
        if len(commands) >= 5000:
            await _write(redis, commands)
            commands = []
        if (i + 1) % 250_000 == 0:
            say(f"  built {i + 1:,}")
    await _write(redis, commands)
    return store


async def run(settings: Settings, templates: list[bytes], count: int,
              seed_definitions: list[GroupDefinition]) -> tuple[BackfillResult, dict[str, bytes]]:
    say(f"step 5/7 back-fill: a new group over {count:,} stored profiles (worker code, real Redis)")
    policy = ProfilePolicy.from_settings(settings)
    keys = KeySpace(settings.redis_prefix)
    redis = connect(settings.redis_url)
    try:
        started = time.perf_counter()
        store = await build_population(templates, count, keys, redis)
        build = time.perf_counter() - started
        say(f"  built {len(store):,} stored profiles from {len(templates):,} folded ones, with their "
            f"details hashes in Redis, in {build:.1f}s (not timed)")
        registry = GroupRegistry.from_definitions([*seed_definitions, NEW_GROUP], policy)
        changed, _ = registry.changed_since({d.id: registry.fingerprints[d.id] for d in seed_definitions})
        processor = SubjectProcessor(registry, policy)
        now = datetime.now(UTC)
        subjects = sorted(store)
        flush_seconds = 0.0
        reported = time.perf_counter()

        async def flush(writer: MembershipWriter) -> None:
            nonlocal flush_seconds
            t0 = time.perf_counter()
            await writer.flush()
            flush_seconds += time.perf_counter() - t0

        def stored(updates: Sequence[Update]) -> None:
            for subject, value, _ in updates:
                store[subject] = value

        def done(count: int) -> None:
            nonlocal reported
            if time.perf_counter() - reported > 10:
                reported = time.perf_counter()
                say(f"  {count:,}/{len(subjects):,} profiles")

        say(f"  back-filling group {NEW_GROUP.id} {NEW_GROUP.name!r} in chunks of {BACKFILL_CHUNK:,}")
        thresholds = gc.get_threshold()
        gc.collect()
        gc.set_threshold(*settings.gc_thresholds)  # as the worker runs (CG_GC_THRESHOLDS)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            stats = await backfill(subjects, store.get, processor, changed, now,
                                   new_writer=lambda: MembershipWriter(redis, keys), flush=flush, store=stored,
                                   done=done)
            cpu = time.process_time() - cpu
        finally:
            gc.set_threshold(*thresholds)
        seconds = time.perf_counter() - started
        customers, guests = keys.member_keys(NEW_GROUP.id)
        members, anonymous = await redis.scard(customers), await redis.scard(guests)
    finally:
        await redis.aclose()
    result = BackfillResult(stats.profiles, seconds, flush_seconds, stats.joined, stats.commands, build, members,
                            anonymous, cpu)
    say(f"  back-filled {len(subjects):,} profiles in {seconds:.1f}s = {result.rate:,.0f} profiles/s, "
        f"{cpu:.1f}s CPU (Redis writes in flight {flush_seconds:.1f}s, {stats.commands:,} commands); group {NEW_GROUP.id} now has "
        f"{members:,} members and {anonymous:,} guests")
    return result, store
