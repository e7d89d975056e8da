"""A worker process runs the garbage-collector policy (pipeline.stream.collector) on its batches.

Only the worker process freezes batches (a worker inside a test leaves the test
process's collector alone), so this starts ``python -m pipeline.cli worker``
against the real Kafka and Redis, with a reclaim interval short enough to see:
each batch end calls the freezer, and the first batch end past the interval
makes the full collection, timed as generation 2 and logged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from pipeline.settings import Settings
from pipeline.store.keys import KeySpace

from .harness import Clock, ago, apply, eventually, prepare

SONY = {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.mark.timeout(240)
async def test_a_worker_process_freezes_its_batches_and_reclaims_on_schedule(
        settings: Settings, redis: Redis, tmp_path: Path) -> None:
    clock = Clock()
    await prepare(settings)
    await apply(settings, [SONY])
    port = _free_port()
    log = tmp_path / "worker.log"
    env = {**os.environ, **settings.as_env(), "CG_WEB_PORT": str(port), "CG_GC_RECLAIM_SECONDS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=env,
                              stdout=log.open("ab"), stderr=subprocess.STDOUT)
    keys = KeySpace(settings.redis_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(6):  # batches seconds apart: at least one ends after the reclaim interval
            visitor = f"gc{n}"
            event = {"type": "view", "event_id": f"gc-{n}", "occurred_at": ago(clock, hours=1),
                     "visitor_id": visitor, "product": {"product_id": "p1", "brand": "Sony"}}
            await producer.send_and_wait(settings.topic_events, orjson.dumps(event), key=visitor.encode())
            groups = await eventually(lambda visitor=visitor: redis.smembers(keys.subject(f"v:{visitor}")),
                                      lambda groups: "12" in groups, timeout=120)
            assert "12" in groups, f"{visitor} never joined (worker log: {log})"
            await asyncio.sleep(0.5)
        reclaims = ("cg_gc_pause_seconds_count", (("generation", "2"),))
        samples = await eventually(lambda: asyncio.to_thread(_samples, port),
                                   lambda s: s.get(reclaims, 0) >= 1, timeout=30)
        assert samples.get(reclaims, 0) >= 1, "no full collection: the freezer never ran after a batch"
        assert ("cg_gc_reclaimed_objects_total", ()) in samples
    finally:
        await producer.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(worker.wait, 40)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    text = log.read_text()
    assert "batches frozen: True (full collection every 1 s)" in text
    assert "gc: reclaimed" in text
