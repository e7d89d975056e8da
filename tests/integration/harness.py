"""Running the real worker against the real servers, for the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.assembly import build_worker
from pipeline.definitions.diff import diff
from pipeline.definitions.topic import ensure_definitions_topic, publish, read_definitions
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace
from pipeline.stream.worker import Worker
from pipeline.topics import ensure_project_topics
from schemas.groups import GroupDefinition

T = TypeVar("T")


class Clock:
    """The worker's clock, which a test can move forward."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def prepare(settings: Settings) -> None:
    await ensure_project_topics(settings)
    await ensure_definitions_topic(settings)


async def apply(settings: Settings, definitions: Iterable[dict[str, Any] | GroupDefinition]) -> None:
    """Publish exactly these definitions (others on the topic are deleted), as ``rules apply``."""
    wanted = [d if isinstance(d, GroupDefinition) else GroupDefinition.model_validate(d) for d in definitions]
    await publish(settings, diff(await read_definitions(settings), wanted))


#: Bounds on a worker's start and stop in tests: a hang fails the test, it never waits forever.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


async def start_worker(worker: Worker) -> None:
    """Start a worker and wait until it has read the definitions, within :data:`START_TIMEOUT`."""
    await asyncio.wait_for(worker.start(), START_TIMEOUT)
    await asyncio.wait_for(worker.watcher.ready.wait(), START_TIMEOUT)


async def stop_worker(worker: Worker) -> None:
    await asyncio.wait_for(worker.stop(), STOP_TIMEOUT)


@asynccontextmanager
async def running_worker(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Worker]:
    worker = build_worker(settings, web_enabled=False, clock=clock)
    try:
        await start_worker(worker)
        yield worker
    finally:
        await stop_worker(worker)


async def produce(settings: Settings, events: Iterable[dict[str, Any] | list[dict[str, Any]] | bytes], *,
                  key_by_visitor: bool = False) -> None:
    """Send events as the storefront would: unkeyed, or keyed by cookie (the fast path).

    A list is one batched record (a JSON array), keyed by its first event's cookie.
    """
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for e in events:
            first = e[0] if isinstance(e, list) and e else e
            visitor = first.get("visitor_id") if isinstance(first, dict) and key_by_visitor else None
            futures.append(await producer.send(settings.topic_events,
                                               e if isinstance(e, bytes) else orjson.dumps(e),
                                               key=visitor.encode() if visitor else None))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool],
                     timeout: float = 60.0) -> T:
    """Poll ``probe`` until ``check`` holds; return the last value either way."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await probe()
    while not check(value) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        value = await probe()
    return value


class View:
    """What the personalisation layer and the exporter see in Redis."""

    def __init__(self, redis: AsyncRedis, settings: Settings) -> None:
        self.redis = redis
        self.keys = KeySpace(settings.redis_prefix)

    async def groups_of(self, subject: str) -> set[str]:
        return set(await self.redis.smembers(self.keys.subject(subject)))

    async def members(self, group_id: str) -> tuple[set[str], set[str]]:
        customers, guests = self.keys.member_keys(group_id)
        return set(await self.redis.smembers(customers)), set(await self.redis.smembers(guests))


async def dead_letters(settings: Settings, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(settings.topic_dead_letter, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found += [orjson.loads(r.value) for r in batch]
    finally:
        await consumer.stop()
    return found


def ago(clock: Clock, **delta: float) -> str:
    return (clock.now - timedelta(**delta)).isoformat()
