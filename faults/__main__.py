"""``make faults``: the fault suite against the real Kafka and Redis.

Each case replays the same events as an uninterrupted reference run under one
fault and compares the WHOLE Redis state with the reference's: every subject
set, group set, cookie link and detail hash. Prints a table and, with
``--report``, writes it into docs/reliability.md.

    python -m faults                        # every case, once
    python -m faults --cases sigkill --runs 3 --events 40000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from faults.cases import CASE_SETTINGS, CASES, Context, reference
from faults.run import Run, RunFailed
from faults.state import Snapshot, diff
from faults.traffic import batch_records, traffic
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
log = logging.getLogger("faults")


async def _converged(run: Run, redis: Redis, expected: Snapshot, wait: float) -> tuple[Snapshot, str]:
    """The run's final state once it stops changing (or matches), and how it compares."""
    deadline = time.monotonic() + wait
    state = await run.snapshot(redis)
    while not diff(expected, state).exact and time.monotonic() < deadline:
        await asyncio.sleep(2)
        state = await run.snapshot(redis)
    await asyncio.sleep(3)  # final: nothing may change after it matched
    state = await run.snapshot(redis)
    return state, diff(expected, state).describe(expected, state)


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    base = Settings()
    definitions = load(REPO / "rules_config", ProfilePolicy.from_settings(base)).definitions
    root = REPO / "var" / "faults" / time.strftime("%Y%m%d-%H%M%S")
    redis = Redis.from_url(base.redis_url)
    rows: list[tuple[str, int, str, str, float]] = []
    failed = False
    try:
        for attempt in range(1, args.runs + 1):
            seed = args.seed + attempt - 1
            records = traffic(args.events, seed=seed)
            if args.batched:
                records = batch_records(records, args.batched, open_keys=3000)  # ~6 events per record
            ctx = Context(base, records, definitions, redis, root / f"run{attempt}", seed, args.produce_seconds)
            reference_run = Run.create(base, "reference", ctx.root)
            await reference_run.prepare(definitions)
            try:
                await reference(ctx, reference_run)
                expected = await reference_run.snapshot(redis)
            finally:
                reference_run.stop()
            log.info("reference (seed %d, %d records): %s", seed, len(records), expected.summary())
            for name in args.cases:
                run = Run.create(base, name, ctx.root, **CASE_SETTINGS.get(name, {}))
                await run.prepare(definitions)
                started = time.monotonic()
                outcome = "identical"
                try:
                    await CASES[name](ctx, run)
                    target = run.redis or redis
                    _, outcome = await _converged(run, target, expected, 180 if name == "redis_restart" else 15)
                except RunFailed as exc:
                    outcome = f"run failed: {exc}"
                finally:
                    run.stop()
                    if run.redis is not None:
                        await run.redis.aclose()
                    if run.private_redis is not None:
                        run.private_redis.stop()
                seconds = time.monotonic() - started
                ok = outcome == "identical"
                left_out = run.topics_left_out()
                failed |= not ok or bool(left_out)
                warning = f"a group leader left topics out of an assignment: {', '.join(left_out)}" if left_out else ""
                rows.append((name, seed, "exact" if ok else "WRONG",
                             "; ".join(filter(None, (outcome.splitlines()[0], warning))), seconds))
                print(f"{name:14} seed {seed}: {'exact' if ok else 'WRONG'} in {seconds:.0f}s\n{outcome}"
                      + (f"\n{warning}" if warning else ""), flush=True)
                if ok and not args.keep:
                    await run.cleanup(redis)
            if not args.keep:
                await reference_run.cleanup(redis)
    finally:
        await redis.aclose()
    table = _table(rows, args, expected_summary=expected.summary() if rows else {})
    print(table)
    if args.report:
        _write_report(table)
    return 1 if failed else 0


def _table(rows: list[tuple[str, int, str, str, float]], args: argparse.Namespace,
           expected_summary: dict[str, int]) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    batched = f" --batched {args.batched}" if args.batched else ""
    lines = [f"`python -m faults --events {args.events} --runs {args.runs}{batched}` at {commit}, "
             f"{time.strftime('%Y-%m-%d')}; reference state: "
             + ", ".join(f"{v:,} {k}" for k, v in expected_summary.items()), "",
             "| case | seed | Redis vs reference | details | seconds |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {seed} | {verdict} | {detail} | {seconds:.0f} |"
              for name, seed, verdict, detail, seconds in rows]
    return "\n".join(lines)


def _write_report(table: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    REPORT.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat with seeds seed, seed+1, ...")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--produce-seconds", type=float, default=40.0,
                        help="how long the paced storefront takes to send the events in a fault case")
    parser.add_argument("--batched", type=int, default=0, metavar="N",
                        help="send the events as batched records of up to N events per cookie (default: one each)")
    parser.add_argument("--report", action="store_true", help="write the table into docs/reliability.md")
    parser.add_argument("--keep", action="store_true", help="keep every run's topics and keys")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
