"""The pure work: the worker's own stage code over in-memory collaborators.

The very ``Ingest`` and ``ProfileStage`` a worker runs, on
:func:`pipeline.stream.memory.memory_context` (tables are dicts, sends and
Redis writes are recorded, not sent): validate and decode, route by cookie,
fold, evaluate, plan Redis, encode the stored profiles, bundle what goes on
to the re-keying topics. Everything a worker does per event except Kafka,
Redis and Faust.

Records are fed the way a worker reads a pre-filled topic: each record on the
partition its key hashes to, in batches of ``CG_BATCH_SIZE`` records from one
partition at a time; what a batch forwards goes to the profile stage (or the
identity stage) in batches of the same size, as the worker's other agents read it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.common import profile_tables
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.stream.collector import BatchFreezer
from pipeline.stream.effects import Effects
from pipeline.stream.ingest import Ingest
from pipeline.stream.maintenance import Maintenance
from pipeline.stream.memory import LocalMessage, RecordingWriter, memory_context
from pipeline.stream.profiles import ProfileStage
from pipeline.stream.sinks import MemorySinks
from schemas.groups import GroupDefinition


@dataclass
class StagesResult:
    label: str
    records: int
    events: int
    seconds: float  # CPU time of this thread
    wall: float
    forwarded_records: int
    redis_commands: int
    profiles: int
    store: dict[str, bytes]

    @property
    def per_event(self) -> float:
        return self.seconds / self.events

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class InMemoryStages:
    """Ingest, identity and profile stages of one worker owning every partition."""

    def __init__(self, settings: Settings, definitions: Iterable[GroupDefinition], policy: ProfilePolicy,
                 now: datetime | None = None) -> None:
        registry = GroupRegistry.from_definitions(list(definitions), policy)
        if registry.errors:
            raise RuntimeError(f"groups do not compile: {registry.errors[:3]}")
        moment = now or datetime.now(UTC)
        self.settings = settings
        self.ctx = memory_context(settings, registry, policy, lambda: moment)
        self.ctx.writer = RecordingWriter(self.ctx.keys, apply=False)  # the stages' work, not a Redis model's
        effects = Effects(self.ctx)
        self.ingest = Ingest(self.ctx, effects)
        self.profiles = ProfileStage(self.ctx, effects, Maintenance(self.ctx, effects))
        self.offset = 0

    @property
    def sinks(self) -> MemorySinks:
        assert isinstance(self.ctx.sinks, MemorySinks)
        return self.ctx.sinks

    @property
    def writer(self) -> RecordingWriter:
        assert isinstance(self.ctx.writer, RecordingWriter)
        return self.ctx.writer

    def records(self, values: Sequence[tuple[bytes | None, bytes]]) -> list[list[LocalMessage]]:
        """The records as a worker's batches: per partition in topic order, ``batch_size`` at a time."""
        partitions: dict[int, list[LocalMessage]] = {}
        topic, partitioner = self.settings.topic_events, self.ctx.partitioner
        for key, value in values:
            partition = partitioner.of_key(key) if key is not None else 0
            self.offset += 1
            partitions.setdefault(partition, []).append(LocalMessage.on(topic, partition, key, value, self.offset))
        size = self.settings.batch_size
        per_partition = [[msgs[i:i + size] for i in range(0, len(msgs), size)] for msgs in partitions.values()]
        batches: list[list[LocalMessage]] = []
        for round_ in range(max((len(p) for p in per_partition), default=0)):  # partitions in turn
            batches += [p[round_] for p in per_partition if round_ < len(p)]
        return batches

    async def _forwarded(self) -> int:
        """Hand what the stages sent on to the stage that reads it, until nothing is left."""
        sinks, size, handed = self.sinks, self.settings.batch_size, 0
        while sinks.sent:
            sent, sinks.sent = sinks.sent, []
            handed += len(sent)
            subjects = [LocalMessage.on("by-subject", 0, s.key.encode() if isinstance(s.key, str) else s.key,
                                        s.value) for s in sent if s.topic == "subject"]
            for start in range(0, len(subjects), size):
                await self.profiles.batch(subjects[start:start + size])
                self.ctx.after_batch()
            for s in sent:
                if s.topic == "visitor":
                    key = s.key.encode() if isinstance(s.key, str) else s.key
                    await self.ingest.identity_message(LocalMessage.on("by-visitor", 0, key, s.value))
        return handed

    async def run(self, batches: list[list[LocalMessage]]) -> tuple[int, int]:
        """(forwarded records, Redis commands) after processing every batch."""
        forwarded = commands = 0
        for batch in batches:
            await self.ingest.batch(batch)
            self.ctx.after_batch()
            forwarded += await self._forwarded()
            commands += sum(len(flush) for flush in self.writer.flushed)
            self.writer.flushed.clear()
        return forwarded, commands


def events_in(value: bytes) -> int:
    return value.count(b'"event_id"')


def run(label: str, settings: Settings, definitions: Iterable[GroupDefinition], policy: ProfilePolicy,
        values: Sequence[tuple[bytes | None, bytes]], profiler: Any = None) -> StagesResult:
    """Process ``values`` (key, record) through the stages; CPU time is this thread's.

    ``profiler`` (a ``cProfile.Profile``) is on only while the stages run, not while
    their input is built.
    """
    import gc

    stages = InMemoryStages(settings, definitions, policy)
    batches = stages.records(values)
    events = sum(events_in(m.value) for batch in batches for m in batch)
    thresholds = gc.get_threshold()
    gc.collect()
    # As the worker runs: its thresholds (CG_GC_THRESHOLDS), each batch frozen (CG_GC_FREEZE_BATCHES).
    gc.set_threshold(*settings.gc_thresholds)
    stages.ctx.after_batch = BatchFreezer(settings.gc_freeze_batches, reclaim_seconds=float("inf")).after_batch
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        if profiler is not None:
            profiler.enable()
        forwarded, commands = asyncio.run(stages.run(batches))
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    table = stages.ctx.profiles.table
    store: dict[str, Any] = dict(table.items())
    return StagesResult(label, len(values), events, cpu, wall, forwarded, commands, len(store), store)


def single_records(events: Sequence[bytes]) -> list[tuple[bytes | None, bytes]]:
    """One event per record, keyed by its cookie (else its customer), as the bench's topic is."""
    out: list[tuple[bytes | None, bytes]] = []
    for value in events:
        event = orjson.loads(value)
        key = event.get("visitor_id") or event.get("customer_id")
        out.append((key.encode() if key else None, value))
    return out


def batched_records(events: Sequence[bytes], per_record: int = 20) -> list[tuple[bytes | None, bytes]]:
    """The same events as a storefront's collector sends them (:func:`pipeline.traffic.batched`)."""
    from pipeline.traffic import batched

    return [(key.encode() if key else None, orjson.dumps(batch))
            for key, batch in batched((orjson.loads(e) for e in events), max_per_record=per_record)]


def profile(stages_run: Any, top: int = 30) -> tuple[str, str]:
    """cProfile over ``stages_run(profiler)``: (top functions by own time, by cumulative time)."""
    import cProfile

    profiler = cProfile.Profile()
    stages_run(profiler)
    return profile_tables(profiler, top)
