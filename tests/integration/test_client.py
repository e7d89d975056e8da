"""The personalisation client reads the groups a real worker keeps in Redis."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from redis.asyncio import Redis

from pipeline.client import AsyncGroupsClient, GroupsClient
from pipeline.settings import Settings
from pipeline.store.connection import connect_sync

from .harness import Clock, ago, apply, eventually, prepare, produce, running_worker

_ids = itertools.count()
GROUPS = [
    {"id": "1", "name": "Newsletter", "type": "public"},
    {"id": "12", "name": "Sony interest", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
    {"id": "20", "name": "Registered", "type": "dynamic", "rules": [["registered", "equals", "yes"]]},
]


def ev(kind: str, clock: Clock, hours_ago: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"cl-{next(_ids):03d}", "occurred_at": ago(clock, hours=hours_ago), **fields}


def sony(clock: Clock, hours_ago: float, **who: str) -> dict[str, Any]:
    return ev("view", clock, hours_ago, product={"product_id": "KD-55X", "brand": "Sony"}, **who)


@pytest.mark.redis_cluster
async def test_clients_return_the_live_groups_of_customers_guests_and_logged_in_cookies(
        settings: Settings, redis: Redis) -> None:
    clock = Clock()
    await prepare(settings)
    await apply(settings, GROUPS)
    sync_client = GroupsClient(connect_sync(settings.redis_url), prefix=settings.redis_prefix)
    async_client = AsyncGroupsClient(redis, prefix=settings.redis_prefix)
    try:
        async with running_worker(settings, clock):
            await produce(settings, [
                ev("signup", clock, 5, customer_id="C1", email="c1@example.com", public_groups=["1"]),
                sony(clock, 4, visitor_id="ck-guest"),             # anonymous, never logs in
                sony(clock, 4, visitor_id="ck-login"),             # anonymous, then logs in as C2
                ev("signup", clock, 3, customer_id="C2", email="c2@example.com"),
                ev("identify", clock, 2, customer_id="C2", visitor_id="ck-login"),
            ])
            customer = await eventually(lambda: async_client.groups(customer_id="C1"), lambda g: g == {"1", "20"})
            guest = await eventually(lambda: async_client.groups(visitor_id="ck-guest"), lambda g: g == {"12"})
            logged_in = await eventually(lambda: async_client.groups(visitor_id="ck-login"),
                                         lambda g: g == {"12", "20"})
            assert customer == {"1", "20"}
            assert guest == {"12"}
            assert logged_in == {"12", "20"}  # the cookie mirrors C2, who took over its Sony view
            assert sync_client.groups(customer_id="C2", visitor_id="ck-login") == {"12", "20"}
            assert sync_client.groups(visitor_id="ck-login") == logged_in
            assert sync_client.groups(customer_id="C1") == customer
            assert sync_client.groups(visitor_id="ck-nobody") == frozenset()

            # banners: unrestricted, restricted to groups the shopper is in or not in
            assert sync_client.may_show(None, visitor_id="ck-nobody")
            assert sync_client.may_show(["12", "99"], visitor_id="ck-guest")
            assert not sync_client.may_show(["1"], visitor_id="ck-guest")
            assert await async_client.may_show(["1"], customer_id="C1")
            assert not await async_client.may_show(["12"], customer_id="C1")

            # a later change is seen on the next lookup: C1 views Sony
            await produce(settings, [sony(clock, 1, customer_id="C1")])
            assert await eventually(lambda: async_client.may_show(["12"], customer_id="C1"), bool)
    finally:
        sync_client.redis.close()
