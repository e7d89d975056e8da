"""Redis loses its data mid-stream: the worker notices and rebuilds it, with no manual step.

The whole Redis state of the run (every subject set, group set, cookie link,
detail hash) after the loss and repair must equal the state before the loss.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from faults.state import diff, snapshot
from pipeline.settings import Settings
from pipeline.store.keys import KeySpace

from .harness import Clock, ago, apply, eventually, prepare, produce, running_worker

GROUPS = [
    {"id": "1", "name": "Newsletter", "type": "public"},
    {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
    {"id": "20", "name": "Customers", "type": "dynamic", "rules": [["registered", "equals", "yes"]]},
]

#: The Redis state of :func:`_events`, by kind of key.
EXPECTED = {"subject sets": 30, "group sets": 4, "cookie links": 10, "detail hashes": 10}


def _events(clock: Clock) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(40):
        events.append({"type": "view", "event_id": f"sh-v{i}", "occurred_at": ago(clock, hours=2),
                       "visitor_id": f"ck{i}", "product": {"product_id": "p", "brand": "Sony" if i % 2 else "Acme"}})
    for i in range(1, 40, 4):  # a quarter (Sony viewers) log in and sign up: links, mirrors, details, consents
        events.append({"type": "signup", "event_id": f"sh-s{i}", "occurred_at": ago(clock, hours=1),
                       "customer_id": f"c{i}", "visitor_id": f"ck{i}", "email": f"c{i}@example.com",
                       "first_name": f"N{i}", "public_groups": ["Newsletter"]})
    return events


@pytest.mark.redis_cluster
async def test_redis_losing_its_data_is_repaired_exactly(settings: Settings, redis: Redis) -> None:
    settings = settings.model_copy(update={"redis_check_seconds": 0.5})
    clock = Clock()
    await prepare(settings)
    await apply(settings, GROUPS)
    prefix = settings.redis_prefix
    async with running_worker(settings, clock) as worker:
        # a first start marks every partition, and is no repair: nothing was stored to lose
        sentinels = [KeySpace(prefix).sentinel(p) for p in range(settings.topic_partitions)]
        assert await eventually(lambda: redis.exists(*sentinels), lambda n: n == len(sentinels)) == len(sentinels)
        assert worker.metrics.redis_repairs._value.get() == 0  # noqa: SLF001
        await produce(settings, _events(clock), key_by_visitor=True)
        before = await eventually(lambda: snapshot(redis, prefix),
                                  lambda s: s.summary() == EXPECTED)
        assert before.summary() == EXPECTED
        repairs = worker.metrics.redis_repairs._value.get()  # noqa: SLF001

        # the data is gone (a restart without persistence, a failover to an empty replica)
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        await redis.delete(*keys)
        after = await eventually(lambda: snapshot(redis, prefix), lambda s: diff(before, s).exact, timeout=60)
        assert diff(before, after).exact, diff(before, after).describe(before, after)
        assert worker.metrics.redis_repairs._value.get() > repairs  # noqa: SLF001

        # and it goes on working on the repaired state: a customer who viewed Acme views Sony
        await produce(settings, [{"type": "signup", "event_id": "sh-late-s", "occurred_at": ago(clock, hours=1),
                                  "customer_id": "c0", "visitor_id": "ck0", "email": "c0@example.com"},
                                 {"type": "view", "event_id": "sh-late", "occurred_at": ago(clock, hours=1),
                                  "visitor_id": "ck0", "product": {"product_id": "p", "brand": "Sony"}}],
                      key_by_visitor=True)
        assert "12" in await eventually(lambda: redis.smembers(f"{prefix}:s:{{c:c0}}"), lambda g: "12" in g)
        assert await eventually(lambda: redis.smembers(f"{prefix}:s:{{v:ck0}}"),  # the cookie mirrors it
                                lambda g: g == {"12", "20"}) == {"12", "20"}


async def test_a_first_start_over_a_backlog_is_no_repair(settings: Settings, redis: Redis) -> None:
    """Events wait in Kafka before the first worker ever starts: it marks its partitions
    before reading them, so its periodic check never mistakes the profiles it then stores
    for a Redis that lost its state (no warning, no repair, no rewrite)."""
    settings = settings.model_copy(update={"redis_check_seconds": 0.2})
    clock = Clock()
    await prepare(settings)
    await apply(settings, GROUPS)
    await produce(settings, _events(clock), key_by_visitor=True)  # the backlog, before any worker
    prefix = settings.redis_prefix
    sentinels = [KeySpace(prefix).sentinel(p) for p in range(settings.topic_partitions)]
    async with running_worker(settings, clock) as worker:
        done = await eventually(lambda: snapshot(redis, prefix),
                                lambda s: s.summary() == EXPECTED)
        assert done.summary() == EXPECTED
        assert await redis.exists(*sentinels) == len(sentinels)
        await asyncio.sleep(1.0)  # five more checks over the stored profiles, should one come late
        assert worker.metrics.redis_repairs._value.get() == 0  # noqa: SLF001
