"""One run of the pipeline against the real servers: its own topics, prefix, workers and logs.

A run is named; everything it creates (topics ``<app>.*``, Redis keys
``<app>:*``, worker data dirs) carries the name, so a faulty run and its
reference share the servers without seeing each other. Workers are real
processes (``python -m pipeline.cli worker``) so a SIGKILL is a real one; each
keeps its own data dir (a restarted worker finds its RocksDB again, as a pod
with a volume would) and its own web port.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from bench.common import free_port
from bench.worker_process import LagProbe, WorkerProcess
from faults.state import Snapshot, snapshot
from faults.traffic import Record
from pipeline.definitions.diff import diff as definitions_diff
from pipeline.definitions.topic import ensure_definitions_topic, publish, read_definitions
from pipeline.settings import Settings
from pipeline.topics import ensure_project_topics
from schemas.groups import GroupDefinition


class RunFailed(RuntimeError):
    pass


LEFT_OUT = "Ignoring missing topic: "  # Faust's group leader, assigning without a topic's metadata


@dataclass
class Run:
    name: str
    settings: Settings
    root: Path
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)  # workers the case killed or stopped on purpose
    redis: Redis | None = None  # the run's own Redis, when the case brings one (else the shared one)
    private_redis: Any = None  # its server, stopped when the run ends

    @classmethod
    def create(cls, base: Settings, name: str, root: Path, **update: object) -> Run:
        app = f"{name}-{int(time.time() * 1000) % 10**9}"
        settings = base.model_copy(update={
            "app_id": app, "topic_events": f"{app}.events", "topic_definitions": f"{app}.definitions",
            "topic_dead_letter": f"{app}.dead-letter", "redis_prefix": app, "table_store": "rocksdb://",
            "session_timeout_seconds": 10.0, **update})
        return cls(name, settings, root / name)

    @property
    def input_topics(self) -> list[str]:
        app = self.settings.app_id
        return [self.settings.topic_events, f"{app}.by-visitor", f"{app}.by-subject"]

    async def prepare(self, definitions: list[GroupDefinition]) -> None:
        await ensure_project_topics(self.settings)
        await ensure_definitions_topic(self.settings)
        await publish(self.settings, definitions_diff(await read_definitions(self.settings), definitions))

    def worker(self, name: str, **update: object) -> WorkerProcess:
        """A worker process (started, or restarted with its data dir when it exists already)."""
        existing = self.workers.get(name)
        if existing is not None and existing.alive():
            raise RunFailed(f"worker {name} is already running")
        settings = existing.settings if existing else self.settings.model_copy(update={
            "data_dir": self.root / f"data-{name}", "web_port": free_port(), **update})
        process = WorkerProcess(settings, self.root / f"{name}.log")
        process.start()
        self.workers[name] = process
        self.stopped.discard(name)
        return process

    async def produce(self, records: list[Record], *, chunk: int = 500, pause: float = 0.0) -> None:
        """Produce in order, ``chunk`` at a time, ``pause`` seconds between chunks (a paced storefront)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=5,
                                    enable_idempotence=True, request_timeout_ms=120_000)
        await producer.start()
        try:
            for start in range(0, len(records), chunk):
                futures = [await producer.send(self.settings.topic_events, value, key=key)
                           for key, value in records[start:start + chunk]]
                await asyncio.gather(*futures)
                if pause:
                    await asyncio.sleep(pause)
        finally:
            await producer.stop()

    async def produce_each(self, records: list[Record]) -> int:
        """Produce every record, awaiting each batch; returns how many the broker refused (too large)."""
        from aiokafka.errors import KafkaError

        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=5,
                                    max_request_size=4 * 1024 * 1024, request_timeout_ms=120_000)
        await producer.start()
        refused = 0
        try:
            for start in range(0, len(records), 500):
                futures = [await producer.send(self.settings.topic_events, value, key=key)
                           for key, value in records[start:start + 500]]
                for outcome in await asyncio.gather(*futures, return_exceptions=True):
                    if isinstance(outcome, KafkaError):
                        refused += 1
                    elif isinstance(outcome, BaseException):
                        raise outcome
        finally:
            await producer.stop()
        return refused

    async def dead_letters(self, expected: int, timeout: float = 60.0) -> list[dict[str, object]]:
        """Every record on the run's dead-letter topic (reads until ``expected`` or the end)."""
        import orjson
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(self.settings.topic_dead_letter, bootstrap_servers=self.settings.kafka_bootstrap,
                                    group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        found: list[dict[str, object]] = []
        try:
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found += [orjson.loads(r.value) for r in batch]
            while time.monotonic() < deadline:  # then to the end: a batched record may have several
                more = [orjson.loads(r.value) for batch in (await consumer.getmany(timeout_ms=1000)).values()
                        for r in batch]
                if not more:
                    break
                found += more
        finally:
            await consumer.stop()
        return found

    async def wait_done(self, timeout: float = 600.0, settle: float = 4.0) -> None:
        """Until the group has committed every input topic to its end, and stays there for ``settle`` s."""
        probe = LagProbe(self.settings.kafka_bootstrap, self.settings.app_id, self.input_topics)
        await probe.start()
        try:
            deadline = time.monotonic() + timeout
            quiet_since: float | None = None
            last = None
            while time.monotonic() < deadline:
                try:
                    progress = await probe.read()
                except Exception:  # noqa: BLE001 - the broker may be restarting in a fault case
                    await asyncio.sleep(1)
                    continue
                now = time.monotonic()
                state = (progress.total_lag, tuple(sorted(progress.ends.items())))
                if progress.total_lag == 0 and state == last:
                    quiet_since = quiet_since or now
                    if now - quiet_since >= settle:
                        return
                else:
                    quiet_since = None
                last = state
                self.check_workers()
                await asyncio.sleep(0.5)
            raise RunFailed(f"{self.name}: not done after {timeout:.0f}s (lag {last})")
        finally:
            await probe.stop()

    def check_workers(self) -> None:
        """A worker that died by itself (not killed by the case) fails the run."""
        for name, process in self.workers.items():
            if name in self.stopped or process.alive():
                continue
            raise RunFailed(f"worker {name} exited by itself ({process.proc.returncode if process.proc else None});"
                            f" log: {process.log_path}")

    def kill(self, name: str) -> None:
        process = self.workers[name]
        self.stopped.add(name)
        assert process.proc is not None
        process.proc.kill()
        process.proc.wait(30)

    def restart(self, name: str) -> WorkerProcess:
        return self.worker(name)

    async def snapshot(self, redis: Redis) -> Snapshot:
        return await snapshot(redis, self.settings.redis_prefix)

    def topics_left_out(self) -> list[str]:
        """Topics a group leader left out of a partition assignment, per this run's worker logs:
        their partitions went to no one in that generation (a changelog's table partitions then
        go unrecovered). Workers create every topic before they join, so none should appear."""
        found: set[str] = set()
        for path in sorted(self.root.glob("*.log")):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if LEFT_OUT in line:
                    found.add(line.split(LEFT_OUT, 1)[1].split()[0].strip("'\""))
        return sorted(found)

    def stop(self) -> None:
        for name, process in self.workers.items():
            if process.alive():
                self.stopped.add(name)
                process.stop(timeout=float(self.settings.shutdown_timeout_seconds) + 15)

    async def cleanup(self, redis: Redis) -> None:
        """Delete the run's topics and keys (its logs stay under the root)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap)
        await admin.start()
        try:
            doomed = [t for t in await admin.list_topics() if t.startswith(self.settings.app_id)]
            if doomed:
                await admin.delete_topics(doomed)
        finally:
            await admin.close()
        keys = [k async for k in redis.scan_iter(match=f"{self.settings.redis_prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start:start + 1000])
