"""The fault cases. Each runs the same events as the reference under one fault and
returns its run; the caller compares the whole Redis state with the reference's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from faults.run import Run, RunFailed
from faults.traffic import Record
from pipeline.settings import Settings
from schemas.groups import GroupDefinition

log = logging.getLogger("faults")
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Context:
    base: Settings
    records: list[Record]
    definitions: list[GroupDefinition]
    redis: Redis
    root: Path
    seed: int
    produce_seconds: float  # how long the storefront takes to send the events (paced)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        log.info(text)
        self.notes.append(text)


Case = Callable[[Context, Run], Awaitable[None]]


async def _produce_paced(ctx: Context, run: Run, records: list[Record] | None = None) -> None:
    records = ctx.records if records is None else records
    chunks = max(1, len(records) // 500)
    await run.produce(records, chunk=500, pause=ctx.produce_seconds / chunks)


async def reference(ctx: Context, run: Run) -> None:
    """One worker, no fault: what every other case must end up with."""
    run.worker("a")
    await run.produce(ctx.records)
    await run.wait_done()


async def sigkill(ctx: Context, run: Run, kills: int = 10) -> None:
    """One worker SIGKILLed at random moments mid-stream and restarted each time."""
    rng = random.Random(ctx.seed)
    run.worker("a")
    producing = asyncio.create_task(_produce_paced(ctx, run))
    for n in range(kills):
        await _processing(run, "a")  # a kill while it waits to join the group would test nothing
        await asyncio.sleep(rng.uniform(0.2, 3))
        run.check_workers()
        run.kill("a")
        ctx.note(f"sigkill: kill {n + 1}/{kills} at {time.strftime('%H:%M:%S')}, producer "
                 f"{'still sending' if not producing.done() else 'done'}")
        run.restart("a")
    await producing
    await run.wait_done()


async def _processing(run: Run, name: str, timeout: float = 180.0) -> None:
    """Until the worker has processed messages in this life (its own counter, from /metrics)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.check_workers()
        try:
            samples = await asyncio.to_thread(run.workers[name].metrics)
        except OSError:
            samples = {}
        if sum(v for (metric, _), v in samples.items() if metric == "cg_events_in_total") > 0:
            return
        await asyncio.sleep(0.3)
    raise RunFailed(f"worker {name} processed nothing for {timeout:.0f}s after its start")


async def failover(ctx: Context, run: Run) -> None:
    """Two workers in one group; one is SIGKILLed mid-stream, a third joins later."""
    rng = random.Random(ctx.seed)
    run.worker("a")
    run.worker("b")
    producing = asyncio.create_task(_produce_paced(ctx, run))
    await _processing(run, "a")
    await _processing(run, "b")
    await _kill_then_join(ctx, run, rng, "failover", victim="a", newcomer="c")
    await producing
    await run.wait_done()


async def _kill_then_join(ctx: Context, run: Run, rng: random.Random, case: str, *, victim: str,
                          newcomer: str) -> None:
    """Mid-stream: SIGKILL ``victim`` 1-5 s from now, start ``newcomer`` 8-14 s after that."""
    await asyncio.sleep(rng.uniform(1, 5))
    run.kill(victim)
    ctx.note(f"{case}: worker {victim} SIGKILLed; the others take over its partitions")
    await asyncio.sleep(rng.uniform(8, 14))
    run.worker(newcomer)
    ctx.note(f"{case}: worker {newcomer} joins")


async def three_workers(ctx: Context, run: Run) -> None:
    """Three workers in one group over 12 partitions, all of them to the end."""
    for name in ("a", "b", "c"):
        run.worker(name)
    producing = asyncio.create_task(_produce_paced(ctx, run))
    for name in ("a", "b", "c"):
        await _processing(run, name)
    ctx.note("three_workers: a, b and c all processing")
    await producing
    await run.wait_done()


async def three_workers_failover(ctx: Context, run: Run) -> None:
    """Three workers over 12 partitions; one is SIGKILLed mid-stream, a fourth joins later."""
    rng = random.Random(ctx.seed)
    for name in ("a", "b", "c"):
        run.worker(name)
    producing = asyncio.create_task(_produce_paced(ctx, run))
    for name in ("a", "b", "c"):
        await _processing(run, name)
    await _kill_then_join(ctx, run, rng, "three_workers_failover", victim="b", newcomer="d")
    await producing
    await run.wait_done()


NARROWED_GROUP = "12"


def broadened(definitions: list[GroupDefinition], group_id: str = NARROWED_GROUP) -> list[GroupDefinition]:
    """The definitions with one dynamic group broader than it is (anyone who viewed any brand)."""
    broad = [["brand", "viewed", "*"]]
    return [GroupDefinition.model_validate({**d.model_dump(mode="json", by_alias=True, exclude_none=True),
                                            "rules": broad}) if d.id == group_id else d
            for d in definitions]


async def _apply(run: Run, definitions: list[GroupDefinition]) -> None:
    from pipeline.definitions.diff import diff as definitions_diff
    from pipeline.definitions.topic import publish, read_definitions

    await publish(run.settings, definitions_diff(await read_definitions(run.settings), definitions))


async def narrowed_group(ctx: Context, run: Run) -> None:
    """A group is narrowed while events flow: it starts broad (anyone who viewed any brand) and
    gets its real rules mid-stream. Its back-fill and the events after the change must leave
    no member of the broad definition who does not match the real one, so the end state
    equals the reference, which had the real rules throughout."""
    await _apply(run, broadened(ctx.definitions))
    run.worker("a")
    producing = asyncio.create_task(_produce_paced(ctx, run))
    await _processing(run, "a")
    await asyncio.sleep(ctx.produce_seconds / 3)
    await _apply(run, ctx.definitions)
    ctx.note(f"narrowed_group: group {NARROWED_GROUP} narrowed to its real rules while events flow")
    await producing
    await run.wait_done()


async def redis_restart(ctx: Context, run: Run) -> None:
    """Redis stopped for 20 s mid-stream and started again empty (no persistence)."""
    server = PrivateRedis(ctx.root / run.name / "redis")
    server.start()
    run.settings = run.settings.model_copy(update={"redis_url": server.url})
    run.worker("a")
    try:
        producing = asyncio.create_task(_produce_paced(ctx, run))
        await asyncio.sleep(ctx.produce_seconds / 3)
        server.stop()
        ctx.note("redis_restart: Redis stopped")
        await asyncio.sleep(20)
        server.start()
        ctx.note("redis_restart: Redis started again, empty")
        await producing
        await run.wait_done()
        run.redis = Redis.from_url(server.url)
    except BaseException:
        server.stop()
        raise
    run.private_redis = server


async def kafka_restart(ctx: Context, run: Run) -> None:
    """The broker stopped for 20 s mid-stream and started again."""
    run.worker("a")
    producing = asyncio.create_task(_produce_paced(ctx, run))
    await asyncio.sleep(ctx.produce_seconds / 3)
    await asyncio.to_thread(_servers, "stop", "kafka")
    ctx.note("kafka_restart: broker stopped")
    await asyncio.sleep(20)
    await asyncio.to_thread(_servers, "start", "kafka")
    ctx.note("kafka_restart: broker started again")
    await producing
    await run.wait_done()


async def hostile(ctx: Context, run: Run, count: int = 10_000) -> None:
    """10,000 hostile records mixed into the valid ones: each is dead-lettered with a reason or
    refused by the broker at produce time (its documented size limit), none is dropped silently,
    and the valid events end exactly as in the reference."""
    from faults.hostile import hostile as make_hostile

    bad = make_hostile(count, seed=ctx.seed)
    rng = random.Random(ctx.seed)
    mixed = list(ctx.records)
    for record in bad:
        mixed.insert(rng.randrange(len(mixed) + 1), record)
    run.worker("a")
    refused = await run.produce_each(mixed)
    accepted_bad = len(bad) - refused
    await run.wait_done()
    letters = await run.dead_letters(accepted_bad)
    reasons: dict[str, int] = {}
    for letter in letters:
        reasons[letter["reason"]] = reasons.get(letter["reason"], 0) + 1
    ctx.note(f"hostile: {len(bad):,} hostile records, {refused:,} refused by the broker at produce time "
             f"(over max.message.bytes), {len(letters):,} dead-lettered: {dict(sorted(reasons.items()))}")
    # a hostile record that is a JSON array is a batch: each of its events is dead-lettered alone
    sources = {(s["topic"], s["partition"], s["offset"]) for s in (letter["source"] for letter in letters)}
    if len(sources) != accepted_bad:
        raise RunFailed(f"hostile: {accepted_bad:,} hostile records reached the topic but "
                        f"{len(sources):,} were dead-lettered ({len(letters):,} dead letters)")
    if any(not letter.get("reason") or not letter.get("stage") for letter in letters):
        raise RunFailed("hostile: a dead letter without a reason")


def _servers(command: str, what: str) -> None:
    subprocess.run([str(REPO / "deploy" / "local" / "servers.sh"), command, what], check=True,
                   stdout=subprocess.DEVNULL, timeout=180)


class PrivateRedis:
    """A redis-server of the case's own (no persistence), so stopping it disturbs nobody else."""

    def __init__(self, folder: Path) -> None:
        from bench.common import free_port

        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).stdout.strip() == b"PONG":
                return
            time.sleep(0.1)
        raise RuntimeError(f"private redis-server on {self.port} did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


CASES: dict[str, Case] = {
    "sigkill": sigkill,
    "failover": failover,
    "redis_restart": redis_restart,
    "kafka_restart": kafka_restart,
    "hostile": hostile,
    "three_workers": three_workers,
    "three_workers_failover": three_workers_failover,
    "narrowed_group": narrowed_group,
}

#: Settings a case's run needs besides the base ones (its reference keeps the base ones:
#: the Redis state does not depend on the partition count).
CASE_SETTINGS: dict[str, dict[str, object]] = {
    "three_workers": {"topic_partitions": 12},
    "three_workers_failover": {"topic_partitions": 12},
}
