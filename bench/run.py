"""``python -m bench``: the whole benchmark in one go, written to docs/benchmarks.md.

Steps (each in its own module; see their docstrings for the method):

1. baseline      bench/baseline.py     bare aiokafka read + parse of the pre-filled topic; a parse-only Faust agent
2. throughput    bench/throughput.py   one real worker process over the same topic, to the end
3. latency       bench/latency.py      event → Redis at half the measured maximum, p50/p95/p99
   batched       (1, 2, 3 again)       the same events as batched records on a topic of their own: the parse-only
                 bench/scaleout.py     Faust agent, two workers in one consumer group to the end, then one worker
                                       to the end and latency at half its maximum
4. rule scaling  bench/evaluation.py   the profile stage's pure work with 10, 100, 1,000, 10,000 groups
                                       (alone: ``python -m bench --only rules``, no Kafka or Redis)
   + hot path    bench/evaluation.py   cProfile over that work; bench/worker_profile.py: pyinstrument over a worker
5. back-fill     bench/backfill.py     a new group over 1M stored profiles (worker code, real Redis)
                                       (alone: ``python -m bench --only backfill``, Redis only)
6. export        bench/export.py       ``customer-groups export`` of the 1M-member group, lookups
7. memory        (2 and 4)             worker RSS, bytes per stored profile

Everything the run creates is named ``bench-<UTC timestamp>`` (topics, consumer
groups, Redis keys under that prefix, files under var/bench/) and is deleted
at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import backfill, baseline, data, evaluation, export, latency, machine, scaleout, throughput, worker_profile
from bench.common import BenchEnv, say
from bench.groups import synthetic_groups
from bench.report import Report, fmt_seconds, render
from bench.worker_process import REPO

MILLION = 1_000_000
DEFAULT_EVENTS = MILLION
"""Events in the pre-filled topic: the issue's ≥ 1M."""


@dataclass
class Config:
    events: int = DEFAULT_EVENTS
    latency_seconds: float = 45.0
    template_events: int = 100_000
    rules_events: int = 10_000
    profile_events: int = 20_000
    worker_profile_events: int = 5_000
    backfill_profiles: int = MILLION
    lookups: int = 20_000
    pipeline_timeout: float = 1200.0
    scaleout_timeout: float = 600.0
    """Two workers are cut here: long enough for any useful speedup (one worker takes ~4 min), and an
    upper bound on their rate when cut (see :mod:`bench.scaleout`)."""
    out: Path = REPO / "docs" / "benchmarks.md"
    quick: bool = False
    only: str | None = None
    latency_rate: float | None = None  # --only latency-batched: a fixed rate, not half the drain's

    @classmethod
    def quick_run(cls, out: Path) -> Config:
        return cls(events=20_000, latency_seconds=15.0, template_events=10_000, rules_events=2_000,
                   profile_events=3_000, worker_profile_events=2_000, backfill_profiles=20_000, lookups=2_000,
                   pipeline_timeout=300.0, scaleout_timeout=300.0, out=out, quick=True)


def parse_args(argv: list[str] | None) -> tuple[Config, str]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run with small sizes (a few minutes); figures are not comparable")
    parser.add_argument("--events", type=int, help=f"events in the pre-filled topic (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--latency-seconds", type=float, help="how long the latency probes run (default 45)")
    parser.add_argument("--rules-events", type=int, help="events per rule-scaling measurement (default 10,000)")
    parser.add_argument("--backfill-profiles", type=int, help="stored profiles to back-fill (default 1,000,000)")
    parser.add_argument("--pipeline-timeout", type=float, help="give up on the throughput run after this (1,200 s)")
    parser.add_argument("--scaleout-timeout", type=float, help="give up on the two-worker run after this (600 s)")
    parser.add_argument("--latency-rate", type=float, help="with --only latency-batched: events/s of the "
                        "latency traffic (default half the rate the worker drained at)")
    parser.add_argument("--out", type=Path, help="where to write the report (default docs/benchmarks.md)")
    parser.add_argument("--only", choices=["rules", "stages", "backfill", "latency-batched"],
                        help="one step alone: 'rules' is step 4's rule "
                        "scaling (pure work, no Kafka or Redis), printed and written to var/bench/rules.json; "
                        "'stages' is step 4's pure work (the worker's stages in memory, single and batched "
                        "records) with its cProfile, printed; "
                        "'backfill' is step 5 (real Redis, no Kafka) over profiles folded as step 4 folds them; "
                        "'latency-batched' is one worker draining --events events as batched records, then its "
                        "latency at half that rate (how the history behind a worker moves its p99)")
    args = parser.parse_args(argv)
    out = args.out or Config.out
    config = Config.quick_run(out) if args.quick else Config(out=out)
    for name in ("events", "latency_seconds", "rules_events", "backfill_profiles", "pipeline_timeout",
                 "scaleout_timeout", "latency_rate"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
    config.template_events = min(config.template_events, config.events)
    config.rules_events = min(config.rules_events, config.events)
    config.profile_events = min(config.profile_events, config.events)
    config.only = args.only
    command = " ".join([".venv/bin/python -m bench", *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    return config, command


class Bench:
    def __init__(self, config: Config, command: str) -> None:
        from pipeline.settings import Settings

        self.config = config
        self.env = BenchEnv.create(Settings(), REPO / "var" / "bench")
        self.settings = self.env.settings("w")
        self.report = Report(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), command=command)
        self.results: dict[str, Any] = {}
        self.failures: list[str] = []

    # --- plumbing ---------------------------------------------------------------

    async def step(self, name: str, body: Callable[[], Any]) -> Any:
        """Run one step; a failure is reported (and the run goes on) rather than losing the rest."""
        load = machine.load_average()
        started = time.monotonic()
        try:
            result = body()
            if asyncio.iscoroutine(result):
                result = await result
            self.results[name] = result
            return result
        except Exception as exc:  # noqa: BLE001 - the report must be written whatever failed
            traceback.print_exc()
            say(f"  {name} FAILED: {exc!r}")
            self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            return None
        finally:
            self.results.setdefault("_steps", []).append(
                (name, time.monotonic() - started, load, machine.load_average()))

    # --- the run ------------------------------------------------------------------

    async def run(self) -> int:
        c, s = self.config, self.settings
        started = time.monotonic()
        # SIGTERM (a CI timeout, `kill`) cancels the run, so the clean-up below still runs:
        # topics, Redis keys, the worker process and Redis's notify-keyspace-events setting.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # type: ignore[union-attr]
        say(f"benchmark {self.env.run_id}: {c.events:,} events; report to {c.out}")
        self.report.machine = machine.machine()
        self.report.versions = await machine.versions(s.redis_url)
        worker = None
        try:
            traffic = await self.step("traffic", lambda: data.make_traffic(c.events))
            if traffic is None:
                raise RuntimeError("no traffic, nothing to measure")
            await self.step("prefill", lambda: data.prefill(s, traffic))
            await self.step("baseline", lambda: baseline.run(s, len(traffic.events)))
            got = await self.step("throughput", lambda: throughput.run(
                s, len(traffic.events), self.env.data_dir / "worker.log", c.pipeline_timeout))
            if got is not None:
                result, worker = got
                self.results["throughput"] = result
                rate = max(50.0, result.rate / 2)
                background = await self.step("latency traffic", lambda: data.make_traffic(
                    int(rate * (c.latency_seconds + latency.WARMUP_SECONDS) * 1.2) + 1000, seed=2026).events)
                if background is not None:
                    await self.step("latency", lambda: latency.run(s, self.env.run_id, latency.single_records(background),
                                                                   rate, c.latency_seconds, worker=worker))
                from bench.common import rss_bytes

                self.results["rss_after_latency"] = rss_bytes(worker.pid) if worker.alive() else {}
                worker.stop()
                worker = None
            await self.batched_step(traffic)
            self.results["worker_profile"] = await self.step("worker profile", lambda: worker_profile.run(
                self.env.settings("prof"), min(c.worker_profile_events, len(traffic.events))))
            await self.evaluation_steps(traffic)
            store = await self.step("backfill", self.backfill_step)
            if store is not None:
                await self.step("export", lambda: export.export(s, backfill.NEW_GROUP.id, self.env.data_dir / "export"))
                await self.step("lookups", lambda: export.lookups(s, store, c.lookups))
        finally:
            if worker is not None:
                worker.stop()
            say("step 7/7 clean-up")
            await self.env.cleanup()
            if not self.failures:
                shutil.rmtree(self.env.data_dir, ignore_errors=True)
            else:
                say(f"  kept {self.env.data_dir} (worker log) because a step failed")
        self.report.total_seconds = time.monotonic() - started
        self.build_report()
        c.out.parent.mkdir(parents=True, exist_ok=True)
        c.out.write_text(render(self.report), encoding="utf-8")
        say(f"wrote {c.out} (total {fmt_seconds(self.report.total_seconds)})")
        from bench import summary

        figures = c.out.with_suffix(".json")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
        figures.write_text(json.dumps(summary.headline(c, self.results, commit), indent=2) + "\n", encoding="utf-8")
        say(f"wrote {figures}")
        return 1 if self.failures else 0

    async def batched_step(self, traffic: data.Traffic) -> None:
        """The same events again, batched as a storefront's collector sends them: the parse-only ceiling,
        two workers, then one worker of its own to the end and its latency at half that rate.

        Two workers go before one because the latency run writes more records to the topic: both
        throughput runs must read the same records, and only those."""
        c = self.config
        settings = self.env.settings("batched", topic_events=f"{self.env.run_id}.events-batched")
        filled = await self.step("prefill batched", lambda: data.prefill_batched(settings, traffic))
        if filled is None:
            return
        self.results["batched_fill"] = filled
        # The same first events as the single-record agent reads (its rate does not depend on the topic's length).
        await self.step("baseline batched", lambda: baseline.faust_agent(
            settings, min(filled["events"], baseline.FAUST_EVENTS), batched=True))
        # A fresh app id (a consumer group of its own) reads the batched topic from offset 0.
        scaled = self.env.settings("scale2", topic_events=settings.topic_events)
        await self.step("two workers batched", lambda: scaleout.run(
            scaled, filled["records"], filled["events"], self.env.data_dir, c.scaleout_timeout))
        got = await self.step("throughput batched", lambda: throughput.run(
            settings, filled["records"], self.env.data_dir / "worker-batched.log", c.pipeline_timeout,
            events=filled["events"]))
        if got is None:
            return
        result, worker = got
        self.results["throughput_batched"] = result
        try:
            rate = max(50.0, result.rate / 2)
            events = int(rate * (c.latency_seconds + latency.WARMUP_SECONDS) * 1.2) + 1000
            # A seed of its own: new event IDs, unlike both the topic's and the single latency run's.
            background = await self.step("latency traffic batched", lambda: data.batch_records(
                data.make_traffic(events, seed=2027).events))
            if background is not None:
                await self.step("latency batched", lambda: latency.run(
                    settings, self.env.run_id, background, rate, c.latency_seconds, worker=worker, batched=True))
        finally:
            worker.stop()

    async def evaluation_steps(self, traffic: data.Traffic) -> None:
        from pathlib import Path as _Path

        from pipeline.profile import ProfilePolicy
        from pipeline.rules import load
        from schemas.decode import decode_event

        c = self.config
        say("step 4/7 rule scaling: the profile stage's pure work (route, unpack, fold + evaluate, plan, pack)")
        policy = ProfilePolicy.from_settings(self.settings)
        wanted = max(c.template_events, c.rules_events, c.profile_events)
        decoded = [decode_event(e) for e in traffic.events[:wanted]]
        seed = load(_Path(self.settings.rules_dir), policy).definitions
        self.results["seed_definitions"] = seed
        seed_run = await self.step("stage seed", lambda: evaluation.run_stage(
            f"seed groups ({len(seed)}), {c.template_events:,} events", seed, decoded[:c.template_events], policy))
        if seed_run is not None:
            self.results["sizes"] = evaluation.stored_sizes(seed_run.store)
            self.results["templates"] = list(seed_run.store.values())
            say(f"  stored values: {self.results['sizes']}")
        groups = synthetic_groups(max(evaluation.SCALING_COUNTS))
        self.results["group_stats"] = evaluation.group_stats(groups[:1000], policy)
        self.results["group_stats_10000"] = evaluation.group_stats(groups, policy)
        scaling = []
        for count in evaluation.SCALING_COUNTS:
            r = await self.step(f"rules {count}", lambda count=count: evaluation.run_stage(
                f"{count:>5} groups", groups[:count], decoded[:c.rules_events], policy))
            if r is not None:
                r.store = {}
                scaling.append(r)
        self.results["scaling"] = scaling
        say("  the pure work: the worker's own stages in memory (bench/stages.py), single and batched records")
        from bench import stages

        events = traffic.events[:c.template_events]
        for shape, values in (("single", stages.single_records(events)), ("batched", stages.batched_records(events))):
            got = await self.step(f"stages {shape}", lambda shape=shape, values=values: asyncio.to_thread(
                stages.run, shape, self.settings, seed, policy, values))  # a loop of its own, in a thread
            if got is not None:
                got.store = {}
                self.results[f"stages {shape}"] = got
                say(f"  stages, {shape} records: {got.events:,} events in {got.records:,} records, "
                    f"{got.per_event * 1e6:.1f} µs CPU per event ({got.rate:,.0f} events/s on one core)")
        profiled = stages.single_records(traffic.events[:c.profile_events])
        self.results["profile_stages"] = await self.step("profile stages", lambda: asyncio.to_thread(
            stages.profile, lambda profiler: stages.run("profile", self.settings, seed, policy, profiled, profiler)))
        say("  hot path profile (cProfile)")
        self.results["profile_seed"] = await self.step("profile seed", lambda: evaluation.profile_stage(
            seed, decoded[:c.profile_events], policy))
        small = max(500, c.rules_events // 10)
        self.results["profile_1000"] = await self.step("profile 1000", lambda: evaluation.profile_stage(
            groups[:1000], decoded[:small], policy))
        self.results["profile_1000_events"] = small

    async def backfill_step(self) -> list[str] | None:
        templates = self.results.get("templates")
        if not templates:
            raise RuntimeError("no folded profiles to copy (the rule-scaling step failed)")
        seed = self.results["seed_definitions"]
        result, store = await backfill.run(self.settings, templates, self.config.backfill_profiles, seed)
        self.results["backfill_result"] = result
        sent = await throughput.apply_rules(self.settings, [*seed, backfill.NEW_GROUP])
        say(f"  published group {backfill.NEW_GROUP.id} to {self.settings.topic_definitions} ({sent} change(s)) "
            "for the exporter")
        return list(store)

    # --- the report -------------------------------------------------------------------

    def build_report(self) -> None:
        from bench import summary

        summary.fill(self.report, self.config, self.env, self.settings, self.results, self.failures)


def rules_only(config: Config) -> int:
    """Step 4's rule scaling alone, on the same events as in a full run (the first of its traffic)."""
    import orjson

    from pipeline.profile import ProfilePolicy
    from pipeline.settings import Settings
    from pipeline.traffic import generate
    from schemas.decode import decode_event

    policy = ProfilePolicy.from_settings(Settings())
    say(f"rule scaling alone: the first {config.rules_events:,} events of a {config.events:,}-event run's traffic")
    events = [decode_event(orjson.dumps(e)) for e in generate(data.shape_for(config.events), limit=config.rules_events)]
    groups = synthetic_groups(max(evaluation.SCALING_COUNTS))
    scaling = [evaluation.run_stage(f"{n:>6} groups", groups[:n], events, policy) for n in evaluation.SCALING_COUNTS]
    figures: dict[str, Any] = {
        "events": len(events),
        "per_event_us": {s.groups: round(s.per_event * 1e6, 1) for s in scaling},
        "cpu_per_event_us": {s.groups: round(s.cpu_seconds / s.events * 1e6, 1) for s in scaling},
        "joined_per_event": {s.groups: round(s.joined / s.events, 2) for s in scaling},
        **evaluation.scaling_ratios(scaling),
        "group_stats_10000": evaluation.group_stats(groups, policy),
    }
    out = REPO / "var" / "bench" / "rules.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    say(f"{json.dumps(evaluation.scaling_ratios(scaling))}; wrote {out}")
    return 0


def stages_only(config: Config) -> int:
    """Step 4's pure work alone (``bench/stages.py``) on the same events as a full run, then its
    profile: the loop to measure a change of the hot path by, in about 15 s."""
    import orjson

    from bench import stages
    from pipeline.profile import ProfilePolicy
    from pipeline.rules import load
    from pipeline.settings import Settings
    from pipeline.traffic import generate

    settings = Settings()
    policy = ProfilePolicy.from_settings(settings)
    seed = load(Path(settings.rules_dir), policy).definitions
    say(f"the pure work alone: the first {config.template_events:,} events of a {config.events:,}-event run's traffic")
    events = [orjson.dumps(e) for e in generate(data.shape_for(config.events), limit=config.template_events)]
    figures: dict[str, Any] = {}
    for shape, values in (("single", stages.single_records(events)), ("batched", stages.batched_records(events))):
        got = stages.run(shape, settings, seed, policy, values)
        figures[f"{shape}_us_per_event"] = round(got.per_event * 1e6, 1)
        figures[f"{shape}_records"] = got.records
    own, cum = stages.profile(lambda profiler: stages.run(
        "profile", settings, seed, policy, stages.single_records(events[:config.profile_events]), profiler))
    print(own, cum, sep="\n\n")
    say(json.dumps({"events": len(events), **figures}))
    return 0


async def backfill_only(config: Config) -> int:
    """Step 5 alone: the same stored profiles as in a full run (folded from its traffic's first
    ``template_events``), back-filled into the real Redis under a prefix of its own, then removed."""
    from pipeline.profile import ProfilePolicy
    from pipeline.rules import load
    from pipeline.settings import Settings
    from schemas.decode import decode_event

    env = BenchEnv.create(Settings(), REPO / "var" / "bench")
    settings = env.settings("backfill")
    policy = ProfilePolicy.from_settings(settings)
    traffic = data.make_traffic(config.events)
    events = [decode_event(e) for e in traffic.events[:config.template_events]]
    seed = load(Path(settings.rules_dir), policy).definitions
    templates = list(evaluation.run_stage(f"seed groups ({len(seed)})", seed, events, policy).store.values())
    try:
        result, _ = await backfill.run(settings, templates, config.backfill_profiles, seed)
    finally:
        say(f"clean-up: {await env.delete_keys():,} key(s) of {env.run_id} deleted")
    say(json.dumps({"backfill_seconds": round(result.seconds, 2), "cpu_seconds": round(result.cpu_seconds, 2),
                    "profiles": result.profiles}))
    return 0


async def latency_batched_only(config: Config) -> int:
    """Step 3's batched pipeline alone: ``events`` events as batched records drained by one worker,
    then its latency at half the rate it drained at (or ``--latency-rate``); figures printed as JSON,
    everything removed."""
    from pipeline.settings import Settings

    env = BenchEnv.create(Settings(), REPO / "var" / "bench")
    settings = env.settings("batched", topic_events=f"{env.run_id}.events-batched")
    worker = None
    try:
        traffic = data.make_traffic(config.events)
        filled = await data.prefill_batched(settings, traffic)
        result, worker = await throughput.run(settings, filled["records"], env.data_dir / "worker-batched.log",
                                              config.pipeline_timeout, events=filled["events"])
        rate = config.latency_rate or max(50.0, result.rate / 2)
        events = int(rate * (config.latency_seconds + latency.WARMUP_SECONDS) * 1.2) + 1000
        background = data.batch_records(data.make_traffic(events, seed=2027).events)
        probes = await latency.run(settings, env.run_id, background, rate, config.latency_seconds, worker=worker,
                                   batched=True)
    finally:
        if worker is not None:
            worker.stop()
        await env.cleanup()
    shutil.rmtree(env.data_dir, ignore_errors=True)  # kept only when a step raised: its worker log
    say(json.dumps({
        "events": filled["events"], "drain_events_per_s": round(result.rate),
        "drain_cpu_us_per_event": round(result.cpu_seconds / filled["events"] * 1e6, 1),
        "latency_rate": round(rate), "latency_cpu_share": round(probes.worker_cpu_share or 0.0, 2),
        "latency_cpu_us_per_event": round(probes.worker_cpu_us_per_event or 0.0, 1),
        "p50_ms": round(probes.p50 * 1e3, 1), "p95_ms": round(probes.p95 * 1e3, 1),
        "p99_ms": round(probes.p99 * 1e3, 1), "max_ms": round(probes.max * 1e3, 1), "lost": probes.lost,
        "cache_hit_ratio": round(probes.cache_hit_ratio, 3) if probes.cache_hit_ratio is not None else None}))
    return 0


def main(argv: list[str] | None = None) -> int:
    config, command = parse_args(argv)
    if config.only == "rules":
        return rules_only(config)
    if config.only == "stages":
        return stages_only(config)
    if config.only == "backfill":
        return asyncio.run(backfill_only(config))
    if config.only == "latency-batched":
        return asyncio.run(latency_batched_only(config))
    return asyncio.run(Bench(config, command).run())
