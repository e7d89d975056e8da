"""Real worker processes and the mixed traffic the process-level tests send them.

A test that kills, or waits for, a worker needs it in its own process; the
expected membership comes from the pure core alone (fold every event into its
subject's profile, evaluate every group).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.profile import ProfilePolicy, fold, new_profile, subject_for
from pipeline.registry import GroupRegistry
from pipeline.rules import load, memberships
from pipeline.settings import Settings
from schemas.events import EVENT_ADAPTER

from .harness import View

RULES = Path(__file__).parents[2] / "rules_config"
BRANDS = ["Sony", "Stressless", "Lego", "Acme", "Fruit Co"]


def mixed_traffic(count: int, seed: int = 7, prefix: str = "crash") -> list[dict[str, Any]]:
    """Views, searches, baskets and wishlists of 150 cookies, sign-ups and orders of 40 customers."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events = []
    for i in range(count):
        when = (now - timedelta(days=rng.uniform(0.1, 60))).isoformat()
        base = {"event_id": f"{prefix}-{i}", "occurred_at": when}
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


def expected_groups(events: list[dict[str, Any]], settings: Settings) -> dict[str, set[str]]:
    """Each subject's groups under the rules in ``rules_config/``, by the pure core alone."""
    policy = ProfilePolicy.from_settings(settings)
    registry = GroupRegistry.from_definitions(load(RULES, policy).definitions, policy)
    profiles: dict[str, Any] = {}
    for raw in events:
        event = EVENT_ADAPTER.validate_python(raw)
        subject = subject_for(event.customer_id, event.visitor_id)
        fold(profiles.setdefault(subject, new_profile(subject)), event, policy)
    today = policy.day_of(datetime.now(UTC))
    return {s: set(memberships(registry.groups.values(), p, today)[0]) for s, p in profiles.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still there 30 s later."""
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()


def worker_process(settings: Settings, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A worker process (``cg worker``) logging to ``log``, and the port of its web views."""
    port = free_port()
    env = {**os.environ, **settings.as_env(), "CG_WEB_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT), port


async def subject_groups(view: View, subjects: list[str]) -> dict[str, set[str]]:
    """Each subject's groups as Redis has them (its subject set)."""
    return {s: await view.groups_of(s) for s in subjects}


async def assert_group_members(view: View, expected: dict[str, set[str]], group_ids: set[str]) -> None:
    """Every group's member sets hold exactly the subjects ``expected`` puts in it."""
    members: dict[str, set[str]] = defaultdict(set)
    for subject, groups in expected.items():
        for group in groups:
            members[group].add(subject)
    for group in group_ids:
        customers, guests = await view.members(group)
        assert {f"c:{c}" for c in customers} | {f"v:{v}" for v in guests} == members[group], group
