"""Scale-out: two worker processes in one consumer group against one, over the same pre-filled topic.

The one-worker figure is the batched throughput step's (:func:`bench.throughput.run`
over the batched topic, right after this one); this step runs two workers (``python -m pipeline.cli
worker`` twice, one ``CG_APP_ID``, so one consumer group sharing the topic's
partitions) over that same topic, from offset 0 under a fresh app id, before
anything else is written to it, and waits until drained exactly as the
throughput step does: the clock runs from the group's first commit on the
events topic to the first poll that finds every lag at zero on the events
topic and both internal topics. Each worker has its own web port and data
directory, as two hosts would. Both start together, so the first rebalance
(one joins, then the other) is inside the figure, as it is in a real
deployment's start. A run cut at its time limit counts every event as done at
the cut: the rate it gives is an upper bound (had it drained, it would have
taken longer), and the report says so.

CPU per event is both workers' CPU time (user + system, from /proc, start-up
included as in the throughput step) over the events: on a machine with fewer
free cores than workers, a speedup below 2 with the same CPU per event means
the cores ran out, while a higher CPU per event means the work itself grew.
Each worker's ``cg_events_in_total`` per stage, read from its ``/metrics`` once
drained, shows which path its events took: ingest folding them where they
arrive, or the detour through ``<app>.by-visitor`` and the identity stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import free_port, say
from bench.throughput import apply_rules, pipeline_topics, wait_until_drained
from bench.worker_process import LagProbe, Progress, WorkerProcess
from pipeline.settings import Settings

STAGES = ("ingest", "identity", "profiles")


@dataclass
class ScaleOutResult:
    workers: int
    events: int
    records: int
    seconds: float
    completed: bool
    startup_seconds: float
    cpu_seconds: list[float]  # per worker, launch to drained
    progress: Progress
    app_id: str
    stages: list[dict[str, float]] = field(default_factory=list)  # per worker: messages in, by stage

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return sum(self.cpu_seconds) * 1e6 / self.events if self.events else float("nan")

    @property
    def ingest_split(self) -> list[float] | None:
        """Each worker's share of the events ingest consumed: [0.0, 1.0] means one worker did it all."""
        ingested = [counts.get("ingest", 0.0) for counts in self.stages]
        return [round(n / sum(ingested), 3) for n in ingested] if sum(ingested) else None


def stage_counts(worker: WorkerProcess) -> dict[str, float]:
    """Messages the worker consumed per stage (``cg_events_in_total``); empty if /metrics does not answer."""
    try:
        samples = worker.metrics()
    except OSError as exc:
        say(f"  could not read worker {worker.pid}'s /metrics: {exc!r}")
        return {}
    return {stage: samples.get(("cg_events_in_total", (("stage", stage),)), 0.0) for stage in STAGES}


async def run(settings: Settings, records: int, events: int, log_dir: Path, timeout: float,
              workers: int = 2) -> ScaleOutResult:
    """``settings``: a fresh app id over the pre-filled topic; ``records`` on it holding ``events``."""
    say(f"scale-out: {workers} worker processes, one consumer group ({settings.app_id}), "
        f"over the {records:,} records of {settings.topic_events}")
    await apply_rules(settings)
    procs = [WorkerProcess(settings.model_copy(update={"web_port": free_port(),
                                                       "data_dir": settings.data_dir / f"scale-{n}"}),
                           log_dir / f"worker-scale-{n}.log") for n in range(workers)]
    probe = LagProbe(settings.kafka_bootstrap, settings.app_id, pipeline_topics(settings))
    await probe.start()
    try:
        launched = time.monotonic()
        for proc in procs:
            proc.start()
        say(f"  worker pids {', '.join(str(p.pid) for p in procs)}")
        completed, started, end, progress = await wait_until_drained(probe, settings, records, timeout, procs)
        cpu = [proc.cpu_seconds() for proc in procs]
        stages = [stage_counts(proc) for proc in procs]
    finally:
        await probe.stop()
        for proc in procs:
            proc.stop()
    result = ScaleOutResult(workers, events, records, end - started, completed, started - launched, cpu, progress,
                            settings.app_id, stages)
    if not completed:
        say(f"  NOT drained within {timeout:.0f}s (lag {progress.total_lag:,}): the rate below is an upper bound")
    say(f"  {events:,} events in {result.seconds:.1f}s = {result.rate:,.0f} events/s with {workers} workers "
        f"(first commit {result.startup_seconds:.1f}s after launch); CPU "
        f"{' + '.join(f'{c:.0f}' for c in cpu)} s = {result.cpu_us_per_event:,.0f} µs per event; "
        f"{progress.ends.get(f'{settings.app_id}.by-subject', 0):,} messages on <app>.by-subject")
    for proc, counts in zip(procs, stages, strict=True):
        say(f"  worker {proc.pid} consumed: " + ", ".join(f"{k} {v:,.0f}" for k, v in counts.items()))
    return result
