"""The run's traffic: generated once with :mod:`pipeline.traffic`, produced once, read by every step."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.common import say
from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from pipeline.traffic import TrafficShape, batched, generate


def shape_for(events: int, seed: int = 2025) -> TrafficShape:
    """A shop whose 120 days of traffic come to about 1.3 × ``events`` events.

    ``generate(limit=N)`` yields sessions in time order, so a shape much larger
    than N would give only its first days: hardly any customer signed up yet,
    no orders, no logins. Sized like this, the N events span most of the 120
    days with signups, logins (profile hand-overs) and orders throughout;
    about one subject per 7 events; a Zipf catalogue of 10,000 products.
    """
    return TrafficShape(customers=max(500, events // 20), visitors=max(3000, events // 8),
                        catalogue=10_000 if events >= 100_000 else 2_000, days=120, seed=seed)


@dataclass
class Traffic:
    shape: TrafficShape
    events: list[bytes]
    seconds: float
    types: Counter = field(default_factory=Counter)  # type: ignore[type-arg]

    @property
    def total_bytes(self) -> int:
        return sum(len(e) for e in self.events)


def make_traffic(count: int, seed: int = 2025) -> Traffic:
    shape = shape_for(count, seed)
    say(f"generating {count:,} events: {shape.customers:,} customers, {shape.visitors:,} anonymous "
        f"cookies, {shape.catalogue:,} products (Zipf), {shape.days} days, seed {seed}")
    started = time.perf_counter()
    events: list[bytes] = []
    types: Counter = Counter()  # type: ignore[type-arg]
    for event in generate(shape, limit=count):
        types[event["type"]] += 1
        # Right-sized copy: orjson's bytes keep a buffer of at least 4 KB, which held a
        # million times made this list ~4 GB (ijl/orjson#483; Home Assistant trims the same way).
        events.append(bytes(memoryview(orjson.dumps(event))))
        if len(events) % 200_000 == 0:
            say(f"  generated {len(events):,}")
    seconds = time.perf_counter() - started
    if len(events) < count:
        say(f"  the shape gave only {len(events):,} events")
    say(f"  generated {len(events):,} events in {seconds:.1f}s ({len(events) / seconds:,.0f}/s); "
        f"types: {dict(types.most_common())}")
    return Traffic(shape, events, seconds, types)


def cookie_key(value: bytes) -> bytes | None:
    """The Kafka key a storefront gives an event: its cookie (``visitor_id``), or none."""
    visitor = orjson.loads(value).get("visitor_id")
    return visitor.encode() if visitor else None


async def produce(bootstrap: str, topic: str, values: list[bytes], *, chunk: int = 20_000,
                  progress: bool = True) -> float:
    """Send every value keyed by its cookie, as the README asks storefronts to, as fast as the client goes.

    Keyed by ``visitor_id`` (murmur2, aiokafka's default), ingest resolves identity
    itself; events without a cookie go unkeyed.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(values), chunk):
            futures = [await producer.send(topic, v, key=cookie_key(v)) for v in values[start:start + chunk]]
            await asyncio.gather(*futures)
            done = min(start + chunk, len(values))
            if progress and (done % 200_000 < chunk or done == len(values)):
                say(f"  produced {done:,}/{len(values):,}")
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def prefill(settings: Settings, traffic: Traffic) -> dict[str, Any]:
    """The run's events topic, filled once; every measurement consumes it from the start."""
    await ensure_topics(settings.kafka_bootstrap, [settings.topic_events, settings.topic_dead_letter],
                        partitions=settings.topic_partitions, replication=settings.topic_replication)
    say(f"producing {len(traffic.events):,} events to {settings.topic_events} "
        f"({settings.topic_partitions} partitions)")
    seconds = await produce(settings.kafka_bootstrap, settings.topic_events, traffic.events)
    rate = len(traffic.events) / seconds
    say(f"  produced in {seconds:.1f}s ({rate:,.0f}/s, {traffic.total_bytes / 1e6:,.0f} MB)")
    return {"seconds": seconds, "rate": rate}


Record = tuple[bytes | None, bytes, int]
"""A Kafka record to send: (key, value, how many events the value holds)."""


def batch_records(events: list[bytes], per_record: int = 20) -> list[Record]:
    """Events as a storefront's collector sends them: up to ``per_record`` events of one cookie
    (or customer) per record, a JSON array keyed like its events (``traffic.batched``, ``record_key``)."""
    return [(key.encode() if key else None, bytes(memoryview(orjson.dumps(batch))), len(batch))
            for key, batch in batched((orjson.loads(e) for e in events), max_per_record=per_record)]


async def prefill_batched(settings: Settings, traffic: Traffic, per_record: int = 20) -> dict[str, Any]:
    """The same events on a topic of its own, batched as :func:`batch_records` does."""
    await ensure_topics(settings.kafka_bootstrap, [settings.topic_events, settings.topic_dead_letter],
                        partitions=settings.topic_partitions, replication=settings.topic_replication)
    records = batch_records(traffic.events, per_record)
    say(f"producing {len(traffic.events):,} events in {len(records):,} batched records "
        f"({len(traffic.events) / len(records):.1f} events per record) to {settings.topic_events}")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(records), 20_000):
            await asyncio.gather(*[await producer.send(settings.topic_events, value, key=key)
                                   for key, value, _ in records[start:start + 20_000]])
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"records": len(records), "events": len(traffic.events), "seconds": seconds,
            "events_per_record": len(traffic.events) / len(records)}
