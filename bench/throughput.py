"""Step 2, pipeline throughput: one real worker processes the pre-filled topic to the end.

The worker (a separate process, ``python -m pipeline.cli worker``: see
:mod:`bench.worker_process`) starts with the seed's groups (``rules_config/``)
applied and reads the topic from the start. Ingest validates, resolves the
cookie and folds every event whose profile lives on its partition (anonymous
visitors: most traffic); logged-in events go on to the customer's partition
through ``<app>.by-subject``, where the profile stage folds them.

"Done" is read from Kafka, as an operator would: the worker's consumer group
has committed every offset of the events topic, and of its two internal
topics (``<app>.by-visitor``, ``<app>.by-subject``), whose end offsets have
stopped growing. Faust flushes its producer before it commits, and ingest acks
an event only after folding it (Redis written) or forwarding it, so a
committed offset means the event's work is done or on the next topic. The clock starts
when the group first commits an offset on the events topic and stops at the
first poll that finds every lag at zero. Faust commits every second, so each
end of the interval is known to about a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import rss_bytes, say
from bench.worker_process import LagProbe, Progress, WorkerProcess
from pipeline.definitions.diff import diff
from pipeline.definitions.topic import ensure_definitions_topic, publish, read_definitions
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings
from pipeline.topics import ensure_project_topics

POLL_SECONDS = 0.5


@dataclass
class ThroughputResult:
    events: int
    seconds: float
    completed: bool
    startup_seconds: float
    cpu_seconds: float
    progress: Progress
    dead_lettered: int
    rss: dict[str, int] = field(default_factory=dict)
    threads: tuple[float, float] = (0.0, 0.0)  # CPU seconds: main thread, other threads (whole life)
    app_id: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """Worker CPU time over wall time: 1.0 is one core kept busy."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


async def apply_rules(settings: Settings, definitions: list | None = None) -> int:  # type: ignore[type-arg]
    """Publish definitions (default: rules_config/) to the run's definitions topic, as ``rules apply``."""
    await ensure_project_topics(settings)
    await ensure_definitions_topic(settings)
    if definitions is None:
        policy = ProfilePolicy.from_settings(settings)
        ruleset = load(Path(settings.rules_dir), policy)
        if not ruleset.ok:
            raise RuntimeError("rules_config/ does not compile: " + "; ".join(map(str, ruleset.errors)))
        definitions = ruleset.definitions
    changes = diff(await read_definitions(settings), definitions)
    return await publish(settings, changes)


def pipeline_topics(settings: Settings) -> list[str]:
    return [settings.topic_events, f"{settings.app_id}.by-visitor", f"{settings.app_id}.by-subject"]


async def wait_until_drained(probe: LagProbe, settings: Settings, expected: int, timeout: float,
                             workers: Sequence[WorkerProcess] = ()) -> tuple[bool, float, float, Progress]:
    """(finished?, start, end, last progress) with monotonic start/end times; fails if a worker dies."""
    events, by_subject = settings.topic_events, f"{settings.app_id}.by-subject"
    launched = time.monotonic()
    progress = await probe.read()
    while progress.committed[events] == 0:
        if time.monotonic() - launched > 180:
            raise TimeoutError("the worker committed nothing in 180s")
        if not all(worker.alive() for worker in workers):
            raise RuntimeError("a worker died before it read anything")
        await asyncio.sleep(0.1)
        progress = await probe.read()
    started = time.monotonic()
    reported, previous = started, progress
    while time.monotonic() - started < timeout:
        await asyncio.sleep(POLL_SECONDS)
        if not all(worker.alive() for worker in workers):
            raise RuntimeError("a worker died")
        progress = await probe.read()
        now = time.monotonic()
        if (progress.committed[events] >= expected and progress.total_lag == 0
                and progress.ends == previous.ends):
            return True, started, now, progress
        previous = progress
        if now - reported >= 10:
            elapsed = now - started
            say(f"  {elapsed:5.0f}s: ingest {progress.committed[events]:,}/{expected:,} "
                f"({progress.committed[events] / elapsed:,.0f}/s), profile stage {progress.committed[by_subject]:,} "
                f"of {progress.ends[by_subject]:,} written; lag {progress.total_lag:,}")
            reported = now
    return False, started, time.monotonic(), progress


async def _end_offsets_sum(probe: LagProbe, topic: str) -> int:
    from aiokafka import TopicPartition

    consumer = probe.consumer
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]  # type: ignore[attr-defined]
    if not partitions:
        return 0
    return sum((await consumer.end_offsets(partitions)).values())  # type: ignore[attr-defined]


async def run(settings: Settings, expected: int, log_path: Path,
              timeout: float, events: int | None = None) -> tuple[ThroughputResult, WorkerProcess]:
    """Returns the worker still running: the latency step goes on with it (the caller stops it).

    ``expected`` is the number of records on the events topic; ``events`` how many events
    they hold when that differs (batched records).
    """
    say(f"step 2/7 pipeline throughput: one worker process ({settings.app_id}) over the {expected:,} records")
    sent = await apply_rules(settings)
    say(f"  applied {sent} group definition(s) from {settings.rules_dir}/")
    worker = WorkerProcess(settings, log_path)
    probe = LagProbe(settings.kafka_bootstrap, settings.app_id, pipeline_topics(settings))
    await probe.start()
    try:
        launched = time.monotonic()
        worker.start()
        say(f"  worker pid {worker.pid}, log {log_path}")
        cpu_before = worker.cpu_seconds()
        completed, started, end, progress = await wait_until_drained(probe, settings, expected, timeout, [worker])
        cpu = worker.cpu_seconds() - cpu_before
        dead = await _end_offsets_sum(probe, settings.topic_dead_letter)
    except BaseException:
        worker.stop()
        raise
    finally:
        await probe.stop()
    seconds = end - started
    per_record = (events or expected) / expected if expected else 1.0
    done = (events or expected) if completed else int(progress.committed[settings.topic_events] * per_record)
    result = ThroughputResult(done, seconds, completed, started - launched, cpu, progress, dead,
                              rss_bytes(worker.pid), worker.thread_cpu_seconds(), settings.app_id)
    if not completed:
        say(f"  NOT finished within {timeout:.0f}s: ingest had read {done:,} events")
    say(f"  {done:,} events in {seconds:.1f}s = {result.rate:,.0f} events/s (started consuming "
        f"{result.startup_seconds:.1f}s after launch); worker CPU {cpu:.0f}s = {result.cpu_share:.2f} cores "
        f"(including start-up); RSS {result.rss.get('VmRSS', 0) / 2**20:,.0f} MiB, peak "
        f"{result.rss.get('VmHWM', 0) / 2**20:,.0f} MiB; dead-lettered {dead:,}")
    return result, worker
