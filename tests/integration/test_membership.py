"""Issue 4 end to end: storefront events through Kafka and Faust into Redis."""

from __future__ import annotations

import functools
import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

from .harness import Clock, View, ago, apply, dead_letters, eventually, prepare, produce, running_worker
from .harness import produce as _produce

# every test here runs against the single Redis and against the Redis Cluster (conftest.py)
pytestmark = pytest.mark.redis_cluster

RULES = Path(__file__).parents[2] / "rules_config"
_ids = itertools.count()


def ev(kind: str, clock: Clock, days_ago: float = 1, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"it-{next(_ids)}", "occurred_at": ago(clock, days=days_ago), **fields}


def product(brand: str, pid: str = "p1", category: str = "TV") -> dict[str, str]:
    return {"product_id": pid, "brand": brand, "category": category}


def signup(clock: Clock, customer: str, joined: str, **fields: Any) -> dict[str, Any]:
    return ev("signup", clock, customer_id=customer, email=f"{customer}@example.com",
              date_joined=joined, **fields)


def order(clock: Clock, customer: str, total: str, days_ago: float = 1) -> dict[str, Any]:
    return ev("order", clock, days_ago, customer_id=customer, order_id=f"o-{next(_ids)}", total=total,
              currency="GBP", lines=[{"product": product("Acme"), "quantity": 1, "unit_price": total}])


@pytest.fixture
def seed_definitions(settings: Settings) -> list[Any]:
    ruleset = load(RULES, ProfilePolicy.from_settings(settings))
    assert ruleset.ok
    return ruleset.definitions


async def test_the_seed_groups_get_exactly_the_right_members(
        settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    events = [
        signup(clock, "new-no-order", "2025-11-05"),
        signup(clock, "joined-on-the-1st", "2025-11-01"),  # "greater than" 01/11 excludes the day
        signup(clock, "old", "2025-10-20"),
        signup(clock, "new-with-order", "2025-11-10"), order(clock, "new-with-order", "20"),
        ev("view", clock, visitor_id="ck-view", product=product("Sony")),
        ev("search", clock, visitor_id="ck-search", query="sony headphones"),
        ev("basket", clock, visitor_id="ck-basket", action="add", product=product("SONY")),
        ev("wishlist", clock, customer_id="fan", action="add", product=product("Sony")),
        ev("view", clock, visitor_id="ck-other", product=product("Acme")),
        ev("search", clock, visitor_id="ck-sonya", query="sonya dress"),
    ]
    async with running_worker(settings, clock):
        await produce(settings, events)
        sony = await eventually(lambda: view.members("12"), lambda m: len(m[1]) == 3 and len(m[0]) == 1)
        new = await eventually(lambda: view.members("11"), lambda m: len(m[0]) == 1)
        everyone = await eventually(lambda: view.members("20"), lambda m: len(m[0]) == 5)

    assert sony == ({"fan"}, {"ck-view", "ck-search", "ck-basket"})
    assert new == ({"new-no-order"}, set())
    assert everyone[0] == {"new-no-order", "joined-on-the-1st", "old", "new-with-order", "fan"}
    assert everyone[1] == set()  # anonymous guests are never "registered"
    assert await view.groups_of("v:ck-view") == {"12"}
    assert await view.groups_of("v:ck-other") == set()
    customers, guests = await redis.scard(view.keys.members("12", False)), await redis.scard(view.keys.members("12", True))
    assert (customers, guests) == (1, 3)  # the seed's "Members (1) / also includes 3 anonymous guests"
    details = await redis.hgetall(view.keys.details("c:new-no-order"))
    assert details["email"] == "new-no-order@example.com" and details["date_joined"] == "2025-11-05"


@pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed-rekeyed", "keyed-by-cookie"])
async def test_login_moves_a_guests_memberships_to_the_customer(
        settings: Settings, redis: Redis, seed_definitions: list[Any], keyed: bool) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    async with running_worker(settings, clock) as worker:
        produce = functools.partial(_produce, key_by_visitor=keyed)
        await produce(settings, [ev("view", clock, 2, visitor_id="ck1", product=product("Sony"))])
        assert (await eventually(lambda: view.members("12"), lambda m: "ck1" in m[1]))[1] == {"ck1"}

        await produce(settings, [ev("identify", clock, 0.5, visitor_id="ck1", customer_id="c5")])
        members = await eventually(lambda: view.members("12"), lambda m: m == ({"c5"}, set()))
        assert members == ({"c5"}, set())
        assert "12" in await view.groups_of("c:c5")
        # the cookie now shows the customer's groups, for a device that returns logged out
        assert "12" in await eventually(lambda: view.groups_of("v:ck1"), lambda g: "12" in g)

        # later anonymous events from that cookie count for the customer
        await produce(settings, [ev("view", clock, 0.2, visitor_id="ck1", product=product("Stressless", "s1")),
                                 ev("view", clock, 0.1, visitor_id="ck1", product=product("Stressless", "s2"))])
        stressless = await eventually(lambda: view.members("10"), lambda m: "c5" in m[0])
        rekeyed = worker.metrics.events_in.labels("identity")._value.get()  # noqa: SLF001

        # erasing the customer forgets the cookie's link (a message to the identity stage):
        # the cookie's next anonymous event builds a guest profile of its own again
        await produce(settings, [ev("erasure", clock, 0.05, customer_id="c5", requested_by="dpo")])
        await eventually(lambda: view.members("12"), lambda m: m == (set(), set()))
        await produce(settings, [ev("view", clock, 0.01, visitor_id="ck1", product=product("Sony", "p2"))])
        after_erasure = await eventually(lambda: view.members("12"), lambda m: m == (set(), {"ck1"}))
    assert stressless == ({"c5"}, set())
    assert after_erasure == (set(), {"ck1"})
    assert await view.groups_of("c:c5") == set()
    # keyed by cookie, identity is resolved at ingest; unkeyed, every cookie event takes the re-keying hop
    assert (rekeyed == 0) if keyed else (rekeyed == 4)


async def test_a_rolling_window_expires_on_time_with_no_new_event(settings: Settings, redis: Redis) -> None:
    clock, view = Clock(), View(redis, settings)
    policy = ProfilePolicy.from_settings(settings)
    await prepare(settings)
    await apply(settings, [{"id": "30", "name": "Sony this week", "type": "dynamic",
                            "rules": [{"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"}]}])
    seen = ev("view", clock, 1, visitor_id="ck1", product=product("Sony"))
    expiry = policy.start_of_day(policy.day_of(clock.now - timedelta(days=1)) + 3)
    async with running_worker(settings, clock) as worker:
        await produce(settings, [seen])
        assert await eventually(lambda: view.groups_of("v:ck1"), lambda g: g == {"30"}) == {"30"}
        assert worker.schedule.next_day() == policy.day_of(expiry)

        clock.now = expiry - timedelta(seconds=1)
        await eventually(lambda: view.groups_of("v:ck1"), lambda g: g != {"30"}, timeout=3)
        assert await view.groups_of("v:ck1") == {"30"}  # still inside the window

        clock.now = expiry + timedelta(seconds=1)
        left = await eventually(lambda: view.groups_of("v:ck1"), lambda g: not g, timeout=10)
    assert left == set()
    assert await view.members("30") == (set(), set())


async def test_groups_applied_at_runtime_are_backfilled_changed_and_deleted(
        settings: Settings, redis: Redis) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    lego = {"id": "40", "name": "Lego fans", "type": "dynamic", "rules": [["brand", "viewed", "Lego"]]}
    await apply(settings, [lego])
    async with running_worker(settings, clock):
        # last month's behaviour, before the group below exists
        await produce(settings, [ev("view", clock, 30, visitor_id=f"ck{i}", product=product("Sony" if i < 3 else "Lego"))
                                 for i in range(5)])
        await eventually(lambda: view.members("40"), lambda m: len(m[1]) == 2)

        sony = {"id": "41", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]}
        await apply(settings, [lego, sony])
        assert (await eventually(lambda: view.members("41"), lambda m: len(m[1]) == 3))[1] == {"ck0", "ck1", "ck2"}

        # a changed rule re-evaluates; a deleted group disappears from Redis
        await apply(settings, [{**sony, "rules": [["brand", "viewed", "Acme"]]}])
        assert await eventually(lambda: view.members("41"), lambda m: not m[1]) == (set(), set())
        assert await eventually(lambda: view.members("40"), lambda m: not m[1]) == (set(), set())
        assert await eventually(lambda: view.groups_of("v:ck4"), lambda g: not g) == set()


async def test_duplicates_change_nothing(settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    batch = [ev("view", clock, 1, visitor_id="ck1", product=product("Stressless", "s1")),
             signup(clock, "c1", "2025-11-05"), order(clock, "c1", "600")]
    async with running_worker(settings, clock) as worker:
        await produce(settings, batch + batch)  # the storefront retried everything
        await eventually(lambda: view.members("22"), lambda m: "c1" in m[0])
        await produce(settings, batch)
        await produce(settings, [ev("view", clock, 0.5, visitor_id="ck1", product=product("Acme"))])
        await eventually(lambda: _processed(worker), lambda n: n >= 10)
    # one Stressless view, not three: the 2-views group does not match
    assert await view.groups_of("v:ck1") == set()
    assert await view.members("22") == ({"c1"}, set())  # £600 average, not £600 x 3 / 3 orders
    assert "11" not in await view.groups_of("c:c1")  # has an order


async def _processed(worker: Any) -> float:
    metric = worker.metrics.events_in.labels("profiles")
    return metric._value.get()  # noqa: SLF001 - reading our own counter


async def test_bad_events_are_dead_lettered_and_processing_continues(
        settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    bad = [
        b"{not json",
        ev("view", clock, visitor_id="ck1", product={"brand": "Sony"}),  # no product_id
        ev("consent", clock, customer_id="c1", group_id="12", granted=True, source="account"),
        ev("staff_membership", clock, customer_id="c1", group_id="1", action="add", source="pos", staff_id="s"),
        ev("view", clock, -2, visitor_id="ck1", product=product("Sony")),  # two days in the future
        # outside the ID policy (schemas/identifiers.py): a separator character, a brace
        ev("view", clock, visitor_id="ck\u001c2", product=product("Sony")),
        ev("signup", clock, customer_id="c{3}", email="c3@example.com"),
        # times the contract refuses rather than crash on later: epoch seconds, year 1
        {**ev("view", clock, visitor_id="ck4", product=product("Sony")), "occurred_at": 1764000000},
        {**ev("view", clock, visitor_id="ck5", product=product("Sony")), "occurred_at": "0001-01-01T00:00:00+00:00"},
        ev("signup", clock, customer_id="c6", email="c6@example.com", public_groups=["Newsletter", "Nope"]),
    ]
    good = ev("view", clock, 1, visitor_id="ck-good", product=product("Sony"))
    by_name = signup(clock, "c-by-name", "2025-11-05", public_groups=["newsletter", "2"])
    async with running_worker(settings, clock) as worker:
        await produce(settings, [*bad, good, by_name])
        assert await eventually(lambda: view.groups_of("v:ck-good"), lambda g: g == {"12"}) == {"12"}
        # a signup may name its public groups; the customer is registered and opted in
        assert {"1", "2"} <= await eventually(lambda: view.groups_of("c:c-by-name"), lambda g: {"1", "2"} <= g)
        letters = await dead_letters(settings, len(bad))
        assert worker.metrics.dead_lettered.labels("ingest", "group type not allowed")._value.get() == 2  # noqa: SLF001
    by_reason = {}
    for letter in letters:
        by_reason.setdefault(letter["reason"], []).append(letter)
    assert {r: len(v) for r, v in by_reason.items()} == {
        "malformed JSON": 1, "invalid 'view' event": 4, "invalid 'signup' event": 1,
        "group type not allowed": 2, "unknown group": 1, "event from the future": 1}
    locations = sorted(e["errors"][0]["location"] for e in by_reason["invalid 'view' event"])
    assert locations == ["occurred_at", "occurred_at", "product.product_id", "visitor_id"]
    assert by_reason["invalid 'signup' event"][0]["errors"][0]["location"] == "customer_id"
    nope = by_reason["unknown group"][0]["errors"][0]
    assert nope["location"] == "public_groups.1" and nope["message"] == "no group has the ID or name 'Nope'"
    assert {e["errors"][0]["message"].split(": ")[-1] for e in by_reason["group type not allowed"]} == {
        "only public groups can be used to opt in to", "only private groups can be used to add customers by hand to"}
    malformed = by_reason["malformed JSON"][0]
    assert malformed["raw_text"] == "{not json" and malformed["source"]["topic"] == settings.topic_events
    assert await view.groups_of("v:ck1") == set()


async def test_reconcile_rebuilds_redis_and_repairs_drift(
        settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    from pipeline.control import request_reconcile

    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    async with running_worker(settings, clock):
        await produce(settings, [ev("view", clock, 1, visitor_id=f"ck{i}", product=product("Sony"))
                                 for i in range(6)] + [signup(clock, "c1", "2025-11-05", visitor_id="ck0")])
        await eventually(lambda: view.members("12"), lambda m: m == ({"c1"}, {f"ck{i}" for i in range(1, 6)}))
        # and the hand-over finished: the cookie mirrors its customer (else reconcile races the pipeline)
        await eventually(lambda: view.groups_of("v:ck0"), lambda g: g == {"11", "12", "20"})
        # on a cluster the cookie's link lives on another node, written by its own pipeline: wait for it too
        assert await eventually(lambda: redis.get(view.keys.link("v:ck0")), lambda v: v == "c:c1") == "c:c1"
        bookkeeping = (":reconcile:", ":h:", ":o:")  # reconcile reports, the per-partition sentinels, replay marks
        before = {key: await redis.type(key) for key in [k async for k in redis.scan_iter(f"{settings.redis_prefix}:*")
                                                         if not any(b in k for b in bookkeeping)]}
        # drift: a lost write, a stale member, a stale subject, a wiped subject key
        await redis.srem(view.keys.members("12", True), "ck1")
        await redis.sadd(view.keys.members("12", True), "ghost")
        await redis.sadd(view.keys.subject("v:ghost"), "12")
        await redis.delete(view.keys.subject("c:c1"))
        reports = await request_reconcile(settings, timeout=60)
        assert sum(r["subjects"] for r in reports) == 6  # c1 (with cookie ck0 merged in) and ck1..ck5
        assert sum(r["stale_members"] for r in reports) == 1
        assert sum(r["stale_subject_keys"] for r in reports) == 1
    assert await view.members("12") == ({"c1"}, {f"ck{i}" for i in range(1, 6)})
    assert await view.groups_of("c:c1") == {"11", "12", "20"}
    assert await view.groups_of("v:ck0") == {"11", "12", "20"}  # the cookie mirrors its customer
    assert await view.groups_of("v:ghost") == set()
    after = {key: await redis.type(key) for key in [k async for k in redis.scan_iter(f"{settings.redis_prefix}:*")
                                                    if not any(b in k for b in bookkeeping)]}
    assert after == before


async def test_a_batch_that_fails_midway_is_retried_not_lost(
        settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    async with running_worker(settings, clock) as worker:
        real_flush, failures = worker.context.writer.flush, []

        async def flaky_flush() -> int:
            if not failures:
                failures.append(1)
                raise RuntimeError("injected: Redis answered nonsense")
            return await real_flush()

        worker.context.writer.flush = flaky_flush  # type: ignore[method-assign]
        await produce(settings, [signup(clock, "c1", "2025-11-05"), order(clock, "c1", "600")])
        groups = await eventually(lambda: view.groups_of("c:c1"), lambda g: "22" in g)
        retries = worker.metrics.retries
        # folded by the ingest stage when the event sits on its subject's partition, else by profiles
        assert sum(retries.labels(stage)._value.get() for stage in ("ingest", "profiles")) >= 1  # noqa: SLF001
    assert failures and groups == {"20", "21", "22"}  # ordered, so not "no orders yet" (11)


async def test_batched_records_are_processed_and_a_bad_event_is_dead_lettered_alone(
        settings: Settings, redis: Redis, seed_definitions: list[Any]) -> None:
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, seed_definitions)
    broken = {"type": "view", "visitor_id": "ck1", "event_id": "it-broken"}  # no occurred_at, no product
    keyed = [ev("view", clock, 1, visitor_id="ck1", product=product("Sony")), broken,
             ev("search", clock, 1, visitor_id="ck1", query="sony tv")]
    unkeyed = [ev("view", clock, 1, visitor_id="ck2", product=product("Sony")),  # through the identity stage
               ev("view", clock, 1, visitor_id="ck3", product=product("Sony"))]
    async with running_worker(settings, clock):
        await produce(settings, [keyed], key_by_visitor=True)
        await produce(settings, [unkeyed])
        members = await eventually(lambda: view.members("12"), lambda m: m == (set(), {"ck1", "ck2", "ck3"}))
        letters = await dead_letters(settings, 1)
    assert members == (set(), {"ck1", "ck2", "ck3"})
    assert len(letters) == 1 and letters[0]["reason"] == "invalid 'view' event"
    assert letters[0]["source"]["batch_index"] == 1 and letters[0]["key"] == "ck1"
    assert {e["location"] for e in letters[0]["errors"]} == {"occurred_at", "product"}
