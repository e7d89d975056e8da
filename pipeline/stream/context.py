"""Exactly what the stages use, declared in one place.

The worker builds a :class:`StageContext` from its Faust app, tables, topics
and Redis; the stage unit tests build one from the in-memory backends
(:class:`~pipeline.stream.state.MemoryTable`, :class:`~pipeline.stream.sinks.MemorySinks`,
:class:`~pipeline.store.writer.RecordingWriter`). No stage reaches for a worker
object: what it needs is here or it does not get it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pipeline.membership import MembershipChange
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace
from pipeline.store.writer import Command
from pipeline.stream.health import Health
from pipeline.stream.metrics import Metrics
from pipeline.stream.partitioning import SubjectPartitioner
from pipeline.stream.replay import ReplayWindow
from pipeline.stream.schedule import RecheckSchedule
from pipeline.stream.sinks import Sinks
from pipeline.stream.state import ProfileStore, Table


class Placement(Protocol):
    """Where this worker stands in its consumer group."""

    def owned_partitions(self) -> list[int]:
        """The profile-stage partitions this worker owns now."""
        ...

    def rebalancing(self) -> bool: ...

    def partitions_of(self, topic: str) -> int | None:
        """How many partitions ``topic`` has, as the consumer knows it (None: not known yet)."""
        ...


class Writer(Protocol):
    """Redis writes staged for a batch and sent at once (:class:`~pipeline.store.writer.MembershipWriter`)."""

    def stage(self, subject: str, change: MembershipChange) -> None: ...

    def stage_commands(self, commands: Iterable[Command]) -> None: ...

    def discard(self) -> None: ...

    @property
    def pending(self) -> int: ...

    async def flush(self) -> int: ...

    async def groups_of(self, subjects: list[str]) -> dict[str, set[str]]:
        """What Redis shows of each subject's groups now (read, never staged)."""
        ...

    def fresh(self) -> Writer:
        """An empty writer to the same Redis, for writes in flight beside this one's (a back-fill)."""
        ...


@dataclass
class StageContext:
    settings: Settings
    now: Callable[[], datetime]
    policy: ProfilePolicy
    registry: Callable[[], GroupRegistry]
    """The live registry (it changes when definitions do)."""
    metrics: Metrics
    health: Health
    keys: KeySpace
    redis: AsyncRedis
    """Read by maintenance only (reconcile, the sentinel check); stages write through ``writer``."""
    writer: Writer
    profiles: ProfileStore
    identity: Table[str]
    """Cookie -> customer ID, once the cookie has logged in."""
    applied: Table[bytes]
    """Partition -> the definitions' fingerprints its back-fill has applied."""
    schedule: RecheckSchedule
    partitioner: SubjectPartitioner
    sinks: Sinks
    placement: Placement
    ready: asyncio.Event
    """Set once the definitions topic has been read to its end."""
    after_batch: Callable[[], None] = lambda: None
    """Called when a stage's batch is done and flushed (the worker's :class:`~pipeline.stream.collector.BatchFreezer`)."""
    replay: ReplayWindow = field(default_factory=ReplayWindow)
    """Input a previous owner may have processed: its subjects are rewritten whole in Redis."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """One profile or identity mutation at a time: the stages share the tables and the writer,
    and interleaving at an await could lose an update."""

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.settings.max_future_seconds)
