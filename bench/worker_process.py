"""A real worker as a separate process (``python -m pipeline.cli worker``), watched from outside.

The worker runs exactly as in production, with ``CG_*`` variables from
:meth:`Settings.as_env`. The benchmark watches its progress the way an
operator would, through the consumer group's committed offsets against the
topics' end offsets (:class:`LagProbe`), reads its memory and CPU time from
/proc, and stops it with SIGTERM. Progress comes from offsets because they
need nothing from the worker; the worker's own ``/metrics`` (:meth:`WorkerProcess.metrics`)
adds what only it knows, such as how long its batches take.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Progress:
    """Per topic: end offsets (messages written) and the group's committed offsets (processed)."""

    ends: dict[str, int]
    committed: dict[str, int]

    def lag(self, topic: str) -> int:
        return self.ends.get(topic, 0) - self.committed.get(topic, 0)

    @property
    def total_lag(self) -> int:
        return sum(self.lag(t) for t in self.ends)


class LagProbe:
    """How far a consumer group has got through some topics (sums over partitions)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.bootstrap, self.group, self.topics = bootstrap, group, topics
        self.admin: object = None
        self.consumer: object = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self.admin.start()  # type: ignore[attr-defined]
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                         enable_auto_commit=False)
        await self.consumer.start()  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()  # type: ignore[attr-defined]
        if self.admin is not None:
            await self.admin.close()  # type: ignore[attr-defined]

    async def read(self) -> Progress:
        from aiokafka import TopicPartition

        consumer, admin = self.consumer, self.admin
        partitions = []
        for topic in self.topics:
            found = consumer.partitions_for_topic(topic)  # type: ignore[attr-defined]
            if not found:
                await consumer._client.force_metadata_update()  # type: ignore[attr-defined]  # noqa: SLF001
                found = consumer.partitions_for_topic(topic) or ()  # type: ignore[attr-defined]
            partitions += [TopicPartition(topic, p) for p in found]
        ends: dict[str, int] = dict.fromkeys(self.topics, 0)
        if partitions:
            for tp, end in (await consumer.end_offsets(partitions)).items():  # type: ignore[attr-defined]
                ends[tp.topic] += end
        committed: dict[str, int] = dict.fromkeys(self.topics, 0)
        offsets = await admin.list_consumer_group_offsets(self.group)  # type: ignore[attr-defined]
        for tp, meta in offsets.items():
            if tp.topic in committed and meta.offset > 0:
                committed[tp.topic] += meta.offset
        return Progress(ends, committed)


class WorkerProcess:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.settings.as_env(), "PYTHONUNBUFFERED": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until it exits
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], cwd=REPO, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The worker's Prometheus samples: (name, sorted labels) -> value."""
        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://{self.settings.web_host}:{self.settings.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker has used so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def thread_cpu_seconds(self) -> tuple[float, float]:
        """(main thread, all other threads) CPU seconds: Faust reads Kafka in a thread of its own."""
        ticks = os.sysconf("SC_CLK_TCK")
        main = other = 0.0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            if task.name == str(self.pid):
                main += cpu
            else:
                other += cpu
        return main, other

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
