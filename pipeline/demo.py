"""``customer-groups demo``: the whole pipeline on sample traffic, ending in the seed's table.

Applies ``rules_config/``, starts a real worker against the local Kafka and
Redis, replays a realistic sample of storefront traffic, waits until every
event has gone through, and prints the Customer Groups table with members and
anonymous guests apart. Running it again replays the same events (the same
IDs), and the counts stay the same: duplicates change nothing.

The traffic fills every shipped group (:data:`DEMO_SHAPE`: opt-ins to each
public group, staff additions to each private one). With ``serve`` the worker
stays up afterwards with the Customer Groups page at ``/admin/``, so a newcomer
can click through it on live data; it stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from pipeline.assembly import build_worker
from pipeline.definitions.diff import diff
from pipeline.definitions.topic import ensure_definitions_topic, publish, read_definitions
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis, connect
from pipeline.store.keys import KeySpace
from pipeline.stream.worker import Worker
from pipeline.topics import ensure_project_topics
from pipeline.traffic import TrafficShape, batched, generate

log = logging.getLogger(__name__)
#: 500 customers and 3,000 cookies over 450 days, with the contact extras that fill the
#: public and private groups (pipeline.traffic.TrafficShape.contact).
DEMO_SHAPE = TrafficShape(days=450, contact=True)


def say(text: str) -> None:
    print(text, flush=True)


async def _produce(settings: Settings, records: list[tuple[bytes | None, bytes]], events: int) -> float:
    """Send the records, each keyed by its cookie (or customer ID), as the README asks storefronts to."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=10,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for i, (key, value) in enumerate(records, 1):
            pending.append(await producer.send(settings.topic_events, value, key=key))
            if i % 2000 == 0:
                say(f"  produced {i:,}/{len(records):,} records")
        await asyncio.gather(*pending)
        say(f"  produced {events:,} events in {len(records):,} records")
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def _wait_until_processed(worker: Worker, expected: int, timeout: float = 600) -> None:
    """Until ingest has read every event and the later stages have been quiet for a moment."""
    ingest = worker.metrics.events_in.labels("ingest")
    profiles = worker.metrics.events_in.labels("profiles")
    deadline = time.monotonic() + timeout
    last, quiet_since, reported = -1.0, time.monotonic(), 0.0
    while time.monotonic() < deadline:
        read, folded = ingest._value.get(), profiles._value.get()  # noqa: SLF001 - our own counters
        if folded != last:
            last, quiet_since = folded, time.monotonic()
        if read >= expected and time.monotonic() - quiet_since > 2.0:
            return
        if time.monotonic() - reported > 3:
            say(f"  worker: {int(read):,}/{expected:,} events read, {int(folded):,} profile updates")
            reported = time.monotonic()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the worker did not finish {expected} events in {timeout}s")


async def group_table(settings: Settings, redis: AsyncRedis, definitions: list) -> list[tuple[str, ...]]:
    keys = KeySpace(settings.redis_prefix)
    rows: list[tuple[str, ...]] = []
    for d in sorted(definitions, key=lambda d: int(d.id) if d.id.isdigit() else 0):
        customers, guests = keys.member_keys(d.id)
        pipe = redis.pipeline(transaction=False)
        pipe.scard(customers)
        pipe.scard(guests)
        members, anonymous = await pipe.execute()
        rows.append((d.id, d.name, d.type, str(members), str(anonymous)))
    return rows


def render_table(rows: list[tuple[str, ...]]) -> str:
    header = ("group id", "group name", "group type", "members", "anonymous guests")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda r: "  ".join(c.rjust(w) if i in (0, 3, 4) else c.ljust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths, strict=False)))
    return "\n".join([fmt(header), line, *(fmt(r) for r in rows)])


async def serve_until_stopped(settings: Settings) -> None:
    """Keep the worker (and its page) up until Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    page = f"{settings.advertised_url}/admin/"
    say(f"\nThe Customer Groups page: {page}")
    say(f"  sign in with the admin token {settings.admin_token}")
    say(f"  (the admin API is at {settings.advertised_url}/api/, the same token as a bearer token)")
    say("  the worker keeps running on live data; Ctrl-C stops it")
    await stop.wait()
    say("stopping the worker")


async def run(settings: Settings, shape: TrafficShape, serve: bool = False) -> int:
    policy = ProfilePolicy.from_settings(settings)
    ruleset = load(Path(settings.rules_dir), policy)
    if not ruleset.ok:
        for error in ruleset.errors:
            say(f"  - {error}")
        return 1
    say(f"1/5 topics on {settings.kafka_bootstrap}")
    await ensure_project_topics(settings)
    await ensure_definitions_topic(settings)
    say(f"2/5 applying {len(ruleset.groups)} groups from {settings.rules_dir}/")
    changes = diff(await read_definitions(settings), ruleset.definitions)
    for line in changes.lines():
        say(f"  {line}")
    await publish(settings, changes)
    say("3/5 starting a worker")
    if serve and not settings.admin_token:  # the page signs in with a token, as in production
        settings = settings.model_copy(update={"admin_token": secrets.token_hex(16)})
    worker = build_worker(settings)
    await worker.start()
    try:
        await asyncio.wait_for(worker.watcher.ready.wait(), 60)
        # as a storefront's collector sends them: up to 20 events of one cookie per record (a batch);
        # orjson's bytes keep a buffer of at least 4 KB, so each is copied right-sized
        generated = list(generate(shape))
        records = [(key.encode() if key else None, bytes(memoryview(orjson.dumps(batch))))
                   for key, batch in batched(generated, max_per_record=20)]
        say(f"4/5 replaying {len(generated):,} storefront events ({shape.customers} customers, "
            f"{shape.visitors} anonymous cookies, {shape.days} days)")
        await _produce(settings, records, len(generated))
        started = time.perf_counter()
        already = worker.metrics.events_in.labels("ingest")._value.get()  # noqa: SLF001
        await _wait_until_processed(worker, max(int(already), len(generated)))
        elapsed = time.perf_counter() - started
        say(f"  done in {elapsed:.1f}s")
        say("5/5 Customer Groups (from Redis)\n")
        redis = connect(settings.redis_url, decode_responses=True)
        try:
            say(render_table(await group_table(settings, redis, ruleset.definitions)))
        finally:
            await redis.aclose()
        if serve:
            await serve_until_stopped(settings)
        else:
            say(f"\nmetrics while it runs: {settings.advertised_url}/metrics; "
                "`make demo-serve` keeps it running with the Customer Groups page")
    finally:
        await worker.stop()
    return 0


def main(settings: Settings, serve: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(run(settings, DEMO_SHAPE, serve))
