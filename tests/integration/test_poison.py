"""No poison pill: oversized and hostile input is dead-lettered or refused, and never stalls the worker.

Against the real broker: a dead letter always fits (it is bounded), the events
topic takes what CG_MAX_EVENT_BYTES documents and the broker refuses more at
produce time, and a worker that cannot make progress says so in /healthz and
still stops on SIGTERM within CG_SHUTDOWN_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis.asyncio import Redis

from pipeline.settings import Settings

from .harness import Clock, View, ago, apply, dead_letters, eventually, prepare, running_worker

SONY = {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]}


def _view(clock: Clock, visitor: str, n: int) -> dict[str, Any]:
    return {"type": "view", "event_id": f"pp-{visitor}-{n}", "occurred_at": ago(clock, hours=1),
            "visitor_id": visitor, "product": {"product_id": "p1", "brand": "Sony"}}


async def _send(settings: Settings, records: list[tuple[bytes | None, bytes]]) -> list[BaseException | None]:
    """Produce each record (key, value); what the broker refused comes back as its error."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    outcomes: list[BaseException | None] = []
    try:
        for key, value in records:
            try:
                await (await producer.send(settings.topic_events, value, key=key))
                outcomes.append(None)
            except KafkaError as exc:
                outcomes.append(exc)
    finally:
        await producer.stop()
    return outcomes


async def test_oversized_events_never_stall_the_other_partitions(settings: Settings, redis: Redis) -> None:
    settings = settings.model_copy(update={"max_event_bytes": 600_000})
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, [SONY])
    huge_search = orjson.dumps({**_view(clock, "ck-big", 0), "type": "search", "query": "q" * 440_000})
    too_large = orjson.dumps({**_view(clock, "ck-big", 1), "padding": "x" * 610_000})  # over the limit
    refused = orjson.dumps({**_view(clock, "ck-big", 2), "padding": "x" * 2_000_000})  # over the topic's
    good = [(f"ck{i}".encode(), orjson.dumps(_view(clock, f"ck{i}", i))) for i in range(12)]
    async with running_worker(settings, clock) as worker:
        outcomes = await _send(settings, [(b"ck-big", huge_search), (b"ck-big", too_large),
                                          (b"ck-big", refused), *good])
        assert outcomes[0] is None and outcomes[1] is None
        assert type(outcomes[2]).__name__ in {"MessageSizeTooLargeError", "RecordTooLargeError"}, outcomes[2]
        assert all(o is None for o in outcomes[3:])
        for i in range(12):  # every partition carries on
            assert await eventually(lambda i=i: view.groups_of(f"v:ck{i}"), lambda g: g == {"12"}) == {"12"}
        letters = await dead_letters(settings, 2)
        assert worker.health.problems() == []
    by_reason = {letter["reason"]: letter for letter in letters}
    assert set(by_reason) == {"invalid 'search' event", "event too large"}
    search = by_reason["invalid 'search' event"]
    assert search["errors"][0]["location"] == "query" and search["raw_truncated"] is True
    assert search["raw_length"] == len(huge_search) and search["raw_text"] is None
    big = by_reason["event too large"]
    assert "the limit is 600000 (CG_MAX_EVENT_BYTES)" in big["errors"][0]["message"]
    assert big["raw_length"] == len(too_large)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return orjson.loads(exc.read())
    except OSError:
        return None


@pytest.mark.timeout(300)
async def test_a_stalled_worker_says_so_and_still_stops_on_sigterm(settings: Settings, tmp_path: Path) -> None:
    """Redis unreachable: the worker retries, /healthz says not ready and why, SIGTERM ends it in bounds."""
    dead_redis = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    settings = settings.model_copy(update={"redis_url": dead_redis, "stall_after_seconds": 2.0,
                                           "shutdown_timeout_seconds": 8.0})
    clock = Clock()
    await prepare(settings)
    await apply(settings, [SONY])
    port = _free_port()
    log = tmp_path / "worker.log"
    env = {**os.environ, **settings.as_env(), "CG_WEB_PORT": str(port)}
    worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=env,
                              stdout=log.open("ab"), stderr=subprocess.STDOUT)
    try:
        await _send(settings, [(b"ck1", orjson.dumps(_view(clock, "ck1", 0)))])
        health = await eventually(lambda: asyncio.to_thread(_health, port),
                                  lambda h: bool(h and h["problems"]), timeout=120)
        assert health is not None and health["ready"] is False, health
        assert health["problems"][0]["what"] == "redis" and "Connect" in health["problems"][0]["error"]
        worker.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.to_thread(worker.wait, 60)
        took = time.monotonic() - started
        assert code in (0, 70) and took < settings.shutdown_timeout_seconds + 10, (code, took)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    text = log.read_text()
    assert text.count("Redis write failed") == 1, "one line per outage, not one per attempt"
