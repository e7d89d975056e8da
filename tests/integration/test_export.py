"""Issue 5, the exporter, against the real Kafka, Redis and worker.

Members are produced by a real worker from storefront events (hostile and
non-Latin names included), exported, read back as a spreadsheet would, and
compared with what Redis holds; large groups are loaded into Redis directly.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import hashlib
import io
import itertools
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis as redis_sync
from redis.asyncio import Redis

from pipeline.definitions.topic import read_definitions
from pipeline.export.job import ExportRequest, run_export
from pipeline.export.source import MemberSource, connect
from pipeline.settings import Settings
from pipeline.store.connection import SyncRedis, connect_sync
from pipeline.store.keys import KeySpace
from schemas.groups import GroupDefinition

from .harness import Clock, View, ago, apply, eventually, prepare, produce, running_worker

ROOT = Path(__file__).parents[2]
_ids = itertools.count()
D1, D2 = date(2025, 11, 20), date(2025, 11, 21)
GROUPS = [
    {"id": "1", "name": "Newsletter", "type": "public"},
    {"id": "7", "name": "Post", "type": "private"},
    {"id": "12", "name": "Sony interest", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
]
NEWSLETTER = GroupDefinition(id="1", name="Newsletter", type="public")


def ev(kind: str, clock: Clock, hours_ago: float = 2, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"ex-{next(_ids)}", "occurred_at": ago(clock, hours=hours_ago), **fields}


def signup(clock: Clock, customer: str, first: str, last: str, *public: str, hours_ago: float = 2) -> dict[str, Any]:
    return ev("signup", clock, hours_ago, customer_id=customer, email=f"{customer}@example.com", first_name=first,
              last_name=last, date_joined="2025-11-05", public_groups=list(public))


def sony(clock: Clock, **who: str) -> dict[str, Any]:
    return ev("view", clock, product={"product_id": "KD-55X", "brand": "Sony"}, **who)


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(settings: Settings, definitions: dict[str, GroupDefinition], base: Path, day: date,
           **request: Any) -> dict[str, Any]:
    client = connect(settings)
    try:
        source = MemberSource(client, KeySpace(settings.redis_prefix))
        return run_export(source, definitions, ExportRequest(base, day, **request)).manifest
    finally:
        client.close()


def cli(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **settings.as_env()}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "export", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.redis_cluster
async def test_export_lists_the_members_a_real_worker_produced(settings: Settings, redis: Redis,
                                                               tmp_path: Path) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, GROUPS)
    events = [
        signup(clock, "c-formula", '=HYPERLINK("http://x")', "+1", "1"),
        signup(clock, "c-yamada", "山田", "太郎"),
        ev("consent", clock, customer_id="c-yamada", group_id="1", granted=True, source="pos", staff_id="till-4"),
        signup(clock, "c-omar", "عمر", "@SUM(A1)"),
        ev("staff_membership", clock, customer_id="c-omar", group_id="7", action="add", source="cms",
           staff_id="s9"),
        signup(clock, "c-lukasz", 'Łukasz, "Luke"', "O'Brien, Jr."),
        sony(clock, customer_id="c-lukasz"), sony(clock, customer_id="c-formula"),
        sony(clock, visitor_id="ck-1"), sony(clock, visitor_id="ck-2"),
    ]
    async with running_worker(settings, clock):
        await produce(settings, events)
        await eventually(lambda: view.members("12"), lambda m: len(m[0]) == 2 and len(m[1]) == 2)
        await eventually(lambda: view.members("1"), lambda m: len(m[0]) == 2)
        await eventually(lambda: view.members("7"), lambda m: len(m[0]) == 1)
        definitions = await read_definitions(settings)
        # an ID outside the ID policy, as a set written before the policy could hold
        await redis.sadd(view.keys.members("12", False), "c-old\x1c1")
        manifest = await asyncio.to_thread(export, settings, definitions, tmp_path, D1)

        folder = tmp_path / "2025-11-20"
        newsletter = read_csv(folder / "group-1.csv")
        assert newsletter[0] == ["customer_id", "email", "first_name", "last_name", "date_joined",
                                 "opted_in_at", "opt_in_source", "recorded_by"]
        formula, yamada = newsletter[1:]
        assert formula[:5] == ["c-formula", "c-formula@example.com", "'=HYPERLINK(\"http://x\")", "'+1", "2025-11-05"]
        assert formula[6:] == ["registration", ""]
        assert yamada[2:4] == ["山田", "太郎"] and yamada[6:] == ["pos", "till-4"]
        assert read_csv(folder / "group-7.csv")[1][2:4] == ["عمر", "'@SUM(A1)"]
        assert read_csv(folder / "group-7.csv")[1][6:] == ["cms", "s9"]
        sony_rows = read_csv(folder / "group-12.csv")
        assert [r[0] for r in sony_rows[1:]] == ["c-formula", "c-lukasz"]  # the two guests are not listed
        assert sony_rows[2][2:4] == ['Łukasz, "Luke"', "O'Brien, Jr."]
        assert (folder / "group-12.csv").read_bytes().count(b"\r\n") == 3  # CRLF rows
        files = {f["file"]: f for f in manifest["files"]}
        assert (files["group-12.csv"]["rows"], files["group-12.csv"]["anonymous_guests"]) == (2, 2)
        assert files["group-12.csv"]["skipped_reasons"] == {"no_longer_in_group": 0, "invalid_id": 1}
        for entry in files.values():  # every member read is a row or a counted skip: never a silent loss
            if entry["kind"] == "members":
                size = await redis.scard(view.keys.members(entry["group_id"], False))
                assert entry["rows"] + entry["skipped"] == entry["members_read"] == size, entry
        assert files["group-1.csv"]["rows"] == 2 and files["group-7.csv"]["group_type"] == "private"
        for name, entry in files.items():
            assert entry["sha256"] == sha256(folder / name)

        # the next day: one opts out, one signs up; --delta says so
        await produce(settings, [
            ev("consent", clock, 1, customer_id="c-yamada", group_id="1", granted=False, source="account"),
            signup(clock, "c-new", "Neu", "Kunde", "1", hours_ago=1)])
        members = await eventually(lambda: view.members("1"), lambda m: m[0] == {"c-formula", "c-new"})
        assert members[0] == {"c-formula", "c-new"}
        delta = await asyncio.to_thread(export, settings, definitions, tmp_path, D2, delta=True, groups=("1",))
    day2 = tmp_path / "2025-11-21"
    assert [r[0] for r in read_csv(day2 / "group-1-joined.csv")] == ["customer_id", "c-new"]
    assert read_csv(day2 / "group-1-left.csv") == [["customer_id"], ["c-yamada"]]
    assert {f["kind"]: f["since"] for f in delta["files"] if f["kind"] != "members"} == {
        "joined": "2025-11-20", "left": "2025-11-20"}


@pytest.mark.redis_cluster
async def test_the_command_reads_definitions_from_kafka(settings: Settings, redis: Redis, tmp_path: Path) -> None:
    keys = KeySpace(settings.redis_prefix)
    await apply(settings, GROUPS)
    await redis.sadd(keys.members("12", False), "c2", "c1")
    await redis.sadd(keys.members("12", True), "ck-1")
    await redis.hset(keys.details("c:c1"), mapping={"email": "c1@example.com", "first_name": "-Ann"})
    run = cli(settings, "--group", "12", "--date", "2025-11-20", "--out", str(tmp_path), "--delta")
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "group-12.csv" in out and "group-12-joined.csv" in out
    assert "export for 2025-11-20 complete" in err  # stderr is a pipe: log lines, not a bar
    folder = tmp_path / "2025-11-20"
    assert read_csv(folder / "group-12.csv")[1:] == [["c1", "c1@example.com", "'-Ann", "", ""],
                                                     ["c2", "", "", "", ""]]
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert [(f["file"], f["rows"], f["anonymous_guests"]) for f in manifest["files"]] == [
        ("group-12.csv", 2, 1), ("group-12-joined.csv", 2, 1), ("group-12-left.csv", 0, 1)]

    unknown = cli(settings, "--group", "99", "--out", str(tmp_path))
    _, err = unknown.communicate(timeout=120)
    assert unknown.returncode == 2 and "no group '99'" in err and "known: 1, 7, 12" in err


# --- large groups, loaded into Redis directly ---------------------------------------------

CONSENT = orjson.dumps({"granted": True, "at": "2025-11-02T10:00:00+00:00", "source": "account",
                        "staff_id": None}).decode()


def customer_ids(start: int, count: int) -> Iterator[list[str]]:
    for first in range(start, start + count, 1000):
        yield [f"C{i:07d}" for i in range(first, min(first + 1000, start + count))]


def load(client: SyncRedis, keys: KeySpace, group_id: str, start: int, count: int) -> None:
    """``count`` opted-in customers with details: pipelined SADD (1,000 a time) and HSET."""
    pipe = client.pipeline(transaction=False)
    for chunk in customer_ids(start, count):
        pipe.execute_command("SADD", keys.members(group_id, False), *chunk)
        for cid in chunk:
            pipe.execute_command("HSET", keys.details(f"c:{cid}"), "email", f"{cid}@example.com",
                                 "first_name", "Ann", "last_name", "Lee", "date_joined", "2025-11-01",
                                 f"consent:{group_id}", CONSENT)
        if len(pipe) >= 20_000:
            pipe.execute()
    pipe.execute()


def unload(client: SyncRedis, keys: KeySpace, group_id: str, start: int, count: int) -> None:
    """UNLINK in chunks: one huge DEL would block Redis, which is what the exporter avoids.

    A cluster pipeline takes no multi-key UNLINK: there the client splits each chunk by slot."""
    if isinstance(client, redis_sync.RedisCluster):
        for chunk in customer_ids(start, count):
            client.unlink(*[keys.details(f"c:{cid}") for cid in chunk])
        client.unlink(*keys.member_keys(group_id))
        return
    pipe = client.pipeline(transaction=False)
    for chunk in customer_ids(start, count):
        pipe.unlink(*[keys.details(f"c:{cid}") for cid in chunk])
    pipe.unlink(*keys.member_keys(group_id))
    pipe.execute()


@pytest.fixture
def bulk(settings: Settings, redis: Redis) -> Iterator[tuple[SyncRedis, KeySpace, list[tuple[int, int]]]]:
    """A sync client, the test's key space, and the ranges loaded (unloaded afterwards)."""
    client = connect_sync(settings.redis_url)
    keys, loaded = KeySpace(settings.redis_prefix), []
    try:
        yield client, keys, loaded
    finally:
        for start, count in loaded:
            unload(client, keys, "1", start, count)
        client.close()


def test_a_million_members_export_in_seconds(settings: Settings, tmp_path: Path, bulk: Any) -> None:
    client, keys, loaded = bulk
    n = 1_000_000
    began = time.perf_counter()
    loaded.append((0, n))
    load(client, keys, "1", 0, n)
    client.sadd(keys.members("1", True), *[f"ck-{i}" for i in range(250)])
    built = time.perf_counter() - began

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = export(settings, {"1": NEWSLETTER}, tmp_path, D1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n1M members: built in Redis in {built:.1f}s; exported in {wall:.1f}s wall, {cpu:.1f}s CPU "
          f"(peak RSS {rss_before // 1024} -> {rss_after // 1024} MiB) on {os.cpu_count()} CPU(s)")

    (entry,) = manifest["files"]
    assert (entry["rows"], entry["anonymous_guests"], entry["skipped"]) == (n, 250, 0)
    path = tmp_path / "2025-11-20" / "group-1.csv"
    assert entry["sha256"] == sha256(path)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        first = next(reader)
        last = collections.deque(reader, maxlen=1)[0]  # the whole file read, only its last row kept
    assert first[:2] == ["C0000000", "C0000000@example.com"] and last[0] == "C0999999"  # sorted, all there


@pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)
def test_a_large_group_exports_from_the_cluster(settings: Settings, tmp_path: Path, bulk: Any) -> None:
    """Each customer's details key is a slot of its own: the HMGETs go per node (a cluster pipeline)."""
    client, keys, loaded = bulk
    n = 200_000
    loaded.append((0, n))
    load(client, keys, "1", 0, n)
    client.sadd(keys.members("1", True), *[f"ck-{i}" for i in range(25)])
    nodes = {client.get_node_from_key(keys.details(f"c:C{i:07d}")).name for i in range(100)}
    assert len(nodes) == 3  # the details really are spread over every master

    wall = time.perf_counter()
    manifest = export(settings, {"1": NEWSLETTER}, tmp_path, D1)
    print(f"\n{n:,} members from a 3-master cluster: exported in {time.perf_counter() - wall:.1f}s")
    (entry,) = manifest["files"]
    assert (entry["rows"], entry["anonymous_guests"], entry["skipped"]) == (n, 25, 0)
    path = tmp_path / "2025-11-20" / "group-1.csv"
    assert entry["sha256"] == sha256(path)
    rows = read_csv(path)
    assert [r[0] for r in rows[1:]] == [f"C{i:07d}" for i in range(n)]  # sorted, every one there
    assert all(r[1] == f"{r[0]}@example.com" and r[2:5] == ["Ann", "Lee", "2025-11-01"] for r in rows[1:])
    assert {r[5] for r in rows[1:]} == {"2025-11-02T10:00:00+00:00"}  # the consent, from each details hash


def test_a_killed_export_leaves_the_older_folder_and_no_partial_file(settings: Settings, tmp_path: Path,
                                                                     bulk: Any) -> None:
    client, keys, loaded = bulk
    asyncio.run(apply(settings, [NEWSLETTER]))
    loaded.append((0, 300_000))
    load(client, keys, "1", 0, 300_000)
    before = export(settings, {"1": NEWSLETTER}, tmp_path, D1)  # yesterday's complete run for this date
    final = tmp_path / "2025-11-20"
    loaded.append((300_000, 5_000))
    load(client, keys, "1", 300_000, 5_000)

    run = cli(settings, "--date", "2025-11-20", "--out", str(tmp_path))
    partial = tmp_path / ".2025-11-20.partial"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        temps = list(partial.glob(".group-1.csv.*.tmp")) if partial.exists() else []
        if temps and temps[0].stat().st_size > 1_000_000:  # mid-way through the rows
            break
        time.sleep(0.005)
    assert run.poll() is None, "the export finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)

    visible = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if not any(part.startswith(".") for part in p.relative_to(tmp_path).parts))
    assert visible == ["2025-11-20", "2025-11-20/group-1.csv", "2025-11-20/manifest.json"]
    assert orjson.loads((final / "manifest.json").read_bytes()) == before  # the older folder, untouched
    assert sha256(final / "group-1.csv") == before["files"][0]["sha256"]
    assert partial.exists()  # the killed run's leftovers are hidden...

    after = export(settings, {"1": NEWSLETTER}, tmp_path, D1)  # ...and removed by the next run
    assert after["files"][0]["rows"] == 305_000
    assert sorted(os.listdir(tmp_path)) == [".export.lock", "2025-11-20"]
    assert sha256(final / "group-1.csv") == after["files"][0]["sha256"] != before["files"][0]["sha256"]
