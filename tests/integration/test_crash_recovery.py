"""A worker killed with SIGKILL mid-stream and restarted converges to exactly the right state.

The expected membership is computed by the pure core alone (fold every event
into its subject's profile, evaluate every group); the real worker runs as a
separate process so the kill is a real one.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from pipeline.profile import ProfilePolicy, fold, new_profile, subject_for
from pipeline.registry import GroupRegistry
from pipeline.rules import load, memberships
from pipeline.settings import Settings
from schemas.events import EVENT_ADAPTER

from .harness import View, apply, eventually, prepare, produce

RULES = Path(__file__).parents[2] / "rules_config"
BRANDS = ["Sony", "Stressless", "Lego", "Acme", "Fruit Co"]


def _traffic(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events = []
    for i in range(count):
        when = (now - timedelta(days=rng.uniform(0.1, 60))).isoformat()
        base = {"event_id": f"crash-{i}", "occurred_at": when}
        if rng.random() < 0.75:
            brand = rng.choice(BRANDS)
            prod = {"product_id": f"p{rng.randrange(30)}", "brand": brand,
                    "category": "Fruit" if brand == "Fruit Co" else "Home"}
            kind = rng.choice(["view", "view", "search", "basket", "wishlist"])
            body = {"view": {"product": prod}, "search": {"query": f"{brand} deals"},
                    "basket": {"action": "add", "product": prod},
                    "wishlist": {"action": "add", "product": prod}}[kind]
            events.append({"type": kind, "visitor_id": f"ck{rng.randrange(150)}", **base, **body})
        else:
            customer = f"c{rng.randrange(40)}"
            if rng.random() < 0.3:
                events.append({"type": "signup", "customer_id": customer, "email": f"{customer}@x.co",
                               "date_joined": rng.choice(["2025-10-01", "2025-11-15"]), **base})
            else:
                total = str(rng.randrange(5, 900))
                events.append({"type": "order", "customer_id": customer, "order_id": f"o{i}", "total": total,
                               "currency": "GBP", **base, "lines": [{"product": {"product_id": "p1", "brand":
                               rng.choice(BRANDS)}, "quantity": 1, "unit_price": total}]})
    return events


def _expected(events: list[dict[str, Any]], settings: Settings) -> dict[str, set[str]]:
    policy = ProfilePolicy.from_settings(settings)
    registry = GroupRegistry.from_definitions(load(RULES, policy).definitions, policy)
    profiles: dict[str, Any] = {}
    for raw in events:
        event = EVENT_ADAPTER.validate_python(raw)
        subject = subject_for(event.customer_id, event.visitor_id)
        fold(profiles.setdefault(subject, new_profile(subject)), event, policy)
    today = policy.day_of(datetime.now(UTC))
    return {s: set(memberships(registry.groups.values(), p, today)[0]) for s, p in profiles.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_worker(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, **settings.as_env(), "CG_WEB_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT), port


def _metrics(port: int) -> str:
    """The worker's /metrics (lag per partition, messages per stage): stalled, or wrong?"""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError as exc:
        return f"could not read /metrics: {exc!r}"


async def _state(view: View, subjects: list[str]) -> dict[str, set[str]]:
    return {s: await view.groups_of(s) for s in subjects}


@pytest.mark.timeout(600)  # two worker starts, 4,000 events and waits of up to 90 + 180 s
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_sigkilled_worker_converges_to_exact_membership(
        settings: Settings, redis: Redis, tmp_path: Path, store: str) -> None:
    settings = settings.model_copy(update={"table_store": store})
    view = View(redis, settings)
    await prepare(settings)
    policy = ProfilePolicy.from_settings(settings)
    await apply(settings, load(RULES, policy).definitions)
    events = _traffic(4000)
    expected = _expected(events, settings)
    subjects = sorted(expected)
    log = tmp_path / "worker.log"

    worker, port = _start_worker(settings, log)
    metrics = ""
    try:
        await produce(settings, events[:2500])
        # wait until the worker is visibly mid-stream, then kill it without warning
        await eventually(lambda: redis.scard(view.keys.members("20", False)), lambda n: n >= 3, timeout=90)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
        # the kill really was mid-stream: Redis does not yet show what 2,500 events give
        partial = {s: g for s, g in (await _state(view, subjects)).items() if g}
        first_part = {s: g for s, g in _expected(events[:2500], settings).items() if g}
        assert partial != first_part
        await produce(settings, events[2500:] + events[:1000])  # the rest, and a storefront retry

        worker, port = _start_worker(settings, log)
        state = await eventually(lambda: _state(view, subjects), lambda s: s == expected, timeout=180)
        if state != expected:
            metrics = _metrics(port)
            worker.send_signal(signal.SIGUSR1)  # every task's stack into the log: stalled where?
            await asyncio.sleep(2)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    wrong = {s: (state[s], expected[s]) for s in subjects if state[s] != expected[s]}
    if wrong:  # keep the evidence: pytest keeps only its last three temporary directories
        kept = Path(__file__).parents[2] / "var" / "failed-tests" / f"{tmp_path.name}-{settings.app_id}"
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, kept / "worker.log")
        (kept / "wrong.json").write_bytes(orjson.dumps(
            {s: {"redis": sorted(r), "expected": sorted(e)} for s, (r, e) in wrong.items()}))
        (kept / "events.json").write_bytes(orjson.dumps(events))
        (kept / "metrics.txt").write_text(metrics)
    assert not wrong, (f"(in Redis, expected) per subject: {wrong}\nkept in var/failed-tests/\n"
                       f"worker log:\n{log.read_text()[-2000:]}")
    members: dict[str, set[str]] = defaultdict(set)
    for subject, groups in expected.items():
        for group in groups:
            members[group].add(subject)
    for group in {g.id for g in load(RULES, policy).definitions}:
        customers, guests = await view.members(group)
        assert {f"c:{c}" for c in customers} | {f"v:{v}" for v in guests} == members[group], group
