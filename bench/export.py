"""Step 6: exporting the 1M-member group, and the personalisation lookup.

Export: ``customer-groups export --group <id>`` as its own process (the real
command, reading the definitions topic and Redis), timed from launch to exit,
over the group step 5 filled. If the exporter is not installed
(``pipeline.export`` missing, or no ``export`` subcommand), a stand-in is
timed instead and labelled as such: redis-py SSCAN of the member set plus
HMGET of each customer's details, written as CSV.

Lookup: ``pipeline.client.GroupsClient.groups(customer_id=...)`` (one
SMEMBERS) for random customers of the 1M population, one at a time over one
connection, as a storefront page view asks. If the client is missing, raw
redis-py SMEMBERS is timed instead and labelled as such.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import percentile, say
from bench.worker_process import REPO
from pipeline.settings import Settings
from pipeline.store.keys import KeySpace


@dataclass
class ExportResult:
    method: str  # "customer-groups export" or the stand-in's label
    seconds: float
    rows: int
    output: str


@dataclass
class LookupResult:
    method: str
    lookups: int
    p50: float
    p95: float
    p99: float
    max: float
    mean_groups: float


def exporter_available() -> bool:
    if importlib.util.find_spec("pipeline.export") is None:
        return False
    from pipeline.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]  # noqa: SLF001
    return "export" in choices


def _count_rows(folder: Path) -> int:
    rows = 0
    for path in folder.rglob("*.csv"):
        with open(path, encoding="utf-8") as f:
            rows += max(0, sum(1 for _ in f) - 1)
    return rows


def export_real(settings: Settings, group_id: str, out: Path) -> ExportResult:
    env = {**os.environ, **settings.as_env()}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "export", "--group", group_id, "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"customer-groups export failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = done.stdout.strip()
    return ExportResult("customer-groups export (subprocess, wall time incl. start-up)", seconds,
                        _count_rows(out), summary)


def export_stand_in(settings: Settings, group_id: str, out: Path) -> ExportResult:
    from redis import Redis

    keys = KeySpace(settings.redis_prefix)
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"group-{group_id}.csv"
    fields = ("email", "first_name", "last_name", "date_joined")
    started = time.perf_counter()
    rows = 0
    try:
        members, _ = keys.member_keys(group_id)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(("customer_id", *fields))
            cursor = 0
            while True:
                cursor, ids = redis.sscan(members, cursor, count=1000)
                pipe = redis.pipeline(transaction=False)
                for cid in ids:
                    pipe.hmget(keys.details(f"c:{cid}"), *fields)
                for cid, values in zip(ids, pipe.execute(), strict=False):
                    writer.writerow((cid, *values))
                rows += len(ids)
                if cursor == 0:
                    break
    finally:
        redis.close()
    return ExportResult("STAND-IN: redis-py SSCAN + HMGET -> csv (the exporter was not available)",
                        time.perf_counter() - started, rows, str(path))


def export(settings: Settings, group_id: str, out: Path) -> ExportResult:
    say(f"step 6/7 export of group {group_id} and personalisation lookups")
    if exporter_available():
        result = export_real(settings, group_id, out)
    else:
        say("  `customer-groups export` is not available: timing a stand-in instead (labelled as such)")
        result = export_stand_in(settings, group_id, out)
    say(f"  export: {result.rows:,} rows in {result.seconds:.1f}s ({result.method})")
    return result


def lookups(settings: Settings, subjects: list[str], count: int, seed: int = 11) -> LookupResult:
    from redis import Redis

    rng = random.Random(seed)
    customers = [s[2:] for s in subjects if s.startswith("c:")]
    picks = [rng.choice(customers) for _ in range(count)]
    redis = Redis.from_url(settings.redis_url)
    try:
        try:
            from pipeline.client import GroupsClient

            client = GroupsClient(redis, prefix=settings.redis_prefix)
            method = "pipeline.client.GroupsClient.groups (sync redis-py, one SMEMBERS)"
            ask = lambda cid: client.groups(customer_id=cid)  # noqa: E731
        except ImportError:
            keys = KeySpace(settings.redis_prefix)
            method = "FALLBACK: raw redis-py SMEMBERS (pipeline.client not available)"
            ask = lambda cid: redis.smembers(keys.subject(f"c:{cid}"))  # noqa: E731
        for cid in picks[:500]:  # warm the connection
            ask(cid)
        times: list[float] = []
        sizes = 0
        clock = time.perf_counter
        for cid in picks:
            t0 = clock()
            found = ask(cid)
            times.append(clock() - t0)
            sizes += len(found)
    finally:
        redis.close()
    times.sort()
    result = LookupResult(method, len(times), percentile(times, 50), percentile(times, 95),
                          percentile(times, 99), times[-1], sizes / len(times))
    say(f"  lookups: {len(times):,} via {method}: p50 {result.p50 * 1e3:.3f} ms, p95 {result.p95 * 1e3:.3f} ms, "
        f"p99 {result.p99 * 1e3:.3f} ms, max {result.max * 1e3:.1f} ms; {result.mean_groups:.1f} groups each")
    return result
