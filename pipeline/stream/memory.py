"""The in-memory backend: a :class:`StageContext` with no Kafka, Faust or Redis behind it.

The stages are unit-tested against it (as arroyo tests its strategies against
its local broker): tables are dicts, sends are recorded, Redis writes are
recorded per flush, and placement says this worker owns every partition.
:class:`LocalMessage` stands in for the Faust event a stage is handed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY

from pipeline.membership import MembershipChange
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.store.keys import KeySpace
from pipeline.store.writer import Command, coalesce, plan
from pipeline.stream.context import StageContext
from pipeline.stream.health import Health
from pipeline.stream.metrics import Metrics
from pipeline.stream.partitioning import SubjectPartitioner
from pipeline.stream.schedule import RecheckSchedule
from pipeline.stream.sinks import MemorySinks
from pipeline.stream.state import MemoryTable, ProfileStore


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None

    @property
    def tp(self) -> tuple[str, int]:
        """As Faust's ``Message.tp`` (a named tuple: equal to, and hashed as, this one)."""
        return (self.topic, self.partition)


@dataclass
class LocalMessage:
    """What a stage reads of a Faust event: ``key``, ``value`` and ``message`` (topic, partition, offset)."""

    key: bytes | None
    value: bytes
    message: _Message

    @classmethod
    def on(cls, topic: str, partition: int, key: bytes | None, value: bytes, offset: int = 0) -> LocalMessage:
        return cls(key, value, _Message(topic, partition, offset, key))


class MemoryRedis:
    """The keys the writer's commands leave, as Redis would hold them (sets, strings, hashes)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def apply(self, command: Command) -> None:
        op, key, *args = command
        data = self.data
        if op == "DEL":
            for k in (key, *args):
                data.pop(k, None)
        elif op == "SET":
            data[key] = args[0]
        elif op == "SADD":
            data.setdefault(key, set()).update(args)
        elif op == "HSET":
            data.setdefault(key, {}).update(zip(args[::2], args[1::2], strict=True))
        elif op in ("SREM", "HDEL"):
            found = data.get(key)
            if found is not None:
                for member in args:
                    if isinstance(found, set):
                        found.discard(member)
                    else:
                        found.pop(member, None)
                if not found:  # Redis keeps no empty set or hash
                    del data[key]
        else:
            raise ValueError(f"MemoryRedis does not know {op}")


class RecordingWriter:
    """The writer protocol over a list: each flush appends the commands it sent and (unless
    ``apply`` is off: the bench times the stages alone) applies them to ``redis``, what Redis
    would then hold."""

    def __init__(self, keys: KeySpace, redis: MemoryRedis | None = None, *, apply: bool = True) -> None:
        self.keys = keys
        self.redis = redis or MemoryRedis()
        self.apply = apply
        self.staged: list[Command] = []
        self.flushed: list[list[Command]] = []
        self.fail: BaseException | None = None  # the next flush raises it, once

    def stage(self, subject: str, change: MembershipChange) -> None:
        if change.visible:
            self.staged += plan(self.keys, subject, change)

    def stage_commands(self, commands: Iterable[Command]) -> None:
        self.staged += commands

    def discard(self) -> None:
        self.staged = []

    def fresh(self) -> RecordingWriter:
        """Another writer whose flushes land in the same ``flushed`` list."""
        other = RecordingWriter(self.keys, self.redis, apply=self.apply)
        other.flushed = self.flushed
        return other

    @property
    def pending(self) -> int:
        return len(self.staged)

    async def flush(self) -> int:
        if self.fail is not None:
            failure, self.fail = self.fail, None
            raise failure
        sent, self.staged = self.staged, []
        if sent:
            self.flushed.append(sent)
            if self.apply:
                for command in coalesce(sent):
                    self.redis.apply(command)
        return len(sent)

    async def groups_of(self, subjects: list[str]) -> dict[str, set[str]]:
        return {s: set(self.redis.data.get(self.keys.subject(s), ())) for s in subjects}


@dataclass
class LocalPlacement:
    """One worker owning every partition, never rebalancing."""

    partitions: int
    topic_partitions: dict[str, int] = field(default_factory=dict)

    def owned_partitions(self) -> list[int]:
        return list(range(self.partitions))

    def rebalancing(self) -> bool:
        return False

    def partitions_of(self, topic: str) -> int | None:
        return self.topic_partitions.get(topic, self.partitions)


def memory_context(settings: Settings, registry: GroupRegistry, policy: ProfilePolicy,
                   now: Callable[[], datetime], redis: Any = None) -> StageContext:
    """A ready context whose every collaborator is in memory (metrics in a registry of their own)."""
    keys = KeySpace(settings.redis_prefix)
    partitioner = SubjectPartitioner(settings.topic_partitions)
    metrics = Metrics()
    ready = asyncio.Event()
    ready.set()
    assert metrics.registry is not REGISTRY  # a test's counts never leak into another's
    return StageContext(
        settings=settings, now=now, policy=policy, registry=lambda: registry, metrics=metrics,
        health=Health(metrics.stalled, settings.stall_after_seconds), keys=keys, redis=redis,
        writer=RecordingWriter(keys), profiles=ProfileStore(
            MemoryTable(), partitioner.of_subject, split_layout=settings.split_profiles),
        identity=MemoryTable(), applied=MemoryTable(), schedule=RecheckSchedule(), partitioner=partitioner,
        sinks=MemorySinks(partition_of=partitioner.of_subject), placement=LocalPlacement(settings.topic_partitions), ready=ready)
