"""A minimal Faust app for the integration tests: the Kafka -> Faust -> Redis path with nothing else.

One agent reads the events topic and adds each event's ``id`` to a Redis set, in
batches (one SADD per batch, not per event). It proves the Kafka -> Faust -> Redis
path end to end, apart from the segmentation worker (which replaces it in every other test).

The app runs inside the caller's event loop (no ``faust worker`` CLI needed)::

    app = create_app(settings)
    await ensure_topics(settings.kafka_bootstrap, [settings.topic_events], ...)
    async with running(app):
        ...  # the agent consumes until the block ends
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import faust
import orjson
from redis.asyncio import Redis

from pipeline.settings import Settings

log = logging.getLogger(__name__)


def seen_key(settings: Settings) -> str:
    """The Redis set the echo agent fills."""
    return f"{settings.redis_prefix}:echo:seen"


def event_id(raw: bytes | None) -> str | None:
    """The ``id`` of a JSON event, or None for anything without one."""
    try:
        value = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("id"), str | int):
        return str(value["id"])
    return None


def create_app(
    settings: Settings,
    *,
    app_id: str | None = None,
    events_topic: str | None = None,
    redis_key: str | None = None,
) -> faust.App:
    """Build the echo app; the keyword arguments let tests isolate their names."""
    app_id = app_id or f"{settings.app_id}-echo"
    datadir = settings.data_dir / app_id  # Faust makes one even for memory tables
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=settings.kafka_url,
        datadir=str(datadir),
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
    )
    events = app.topic(events_topic or settings.topic_events, value_serializer="raw")
    key = redis_key or seen_key(settings)

    @app.agent(events, name="echo")
    async def record_ids(stream: faust.StreamT) -> None:
        redis = Redis.from_url(settings.redis_url)
        try:
            async for batch in stream.take(500, within=0.2):
                ids = [i for i in map(event_id, batch) if i is not None]
                if ids:
                    await redis.sadd(key, *ids)
                if len(ids) < len(batch):
                    log.warning("echo: skipped %d event(s) without an id", len(batch) - len(ids))
        finally:
            await redis.aclose()

    return app


@contextlib.asynccontextmanager
async def running(app: faust.App, *, timeout_s: float = 60.0) -> AsyncIterator[faust.App]:
    """Run ``app`` as a worker in this event loop until the block exits.

    Waits until the consumer has its partitions, so whatever the caller produces
    next is consumed. The app's topics must exist already (see topics.py).
    """
    await app.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not app.consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"Faust app {app.conf.id!r} got no partitions within {timeout_s}s")
            await asyncio.sleep(0.1)
        yield app
    finally:
        await app.stop()
