"""The personalisation client: the right key, one round trip, and the banner rule."""

from __future__ import annotations

import pytest

from pipeline.client import AsyncGroupsClient, GroupsClient, may_show, restriction


class FakeRedis:
    """Records every call; SMEMBERS answers from a dict, as bytes like an undecoded client."""

    def __init__(self, sets: dict[str, set[str]]) -> None:
        self.sets = sets
        self.calls: list[tuple[str, str]] = []

    def smembers(self, key: str) -> set[bytes]:
        self.calls.append(("SMEMBERS", key))
        return {m.encode() for m in self.sets.get(key, set())}


class AsyncFakeRedis(FakeRedis):
    async def smembers(self, key: str) -> set[bytes]:  # type: ignore[override]
        return super().smembers(key)


SETS = {"shop:s:{c:C42}": {"1", "12"}, "shop:s:{v:ck-anon}": {"12"}, "shop:s:{v:ck-logged-in}": {"1", "12"}}


@pytest.fixture
def redis() -> FakeRedis:
    return FakeRedis(SETS)


def test_customer_key_wins_over_the_cookie(redis: FakeRedis) -> None:
    client = GroupsClient(redis, prefix="shop")  # type: ignore[arg-type]
    assert client.groups(customer_id="C42", visitor_id="ck-anon") == frozenset({"1", "12"})
    assert redis.calls == [("SMEMBERS", "shop:s:{c:C42}")]  # one round trip, the customer's key


def test_an_anonymous_cookie_reads_its_own_key(redis: FakeRedis) -> None:
    client = GroupsClient(redis, prefix="shop")  # type: ignore[arg-type]
    assert client.groups(visitor_id="ck-anon") == frozenset({"12"})
    assert client.groups(visitor_id="ck-logged-in") == frozenset({"1", "12"})  # mirrors its customer
    assert client.groups(visitor_id="ck-unknown") == frozenset()
    assert [key for _, key in redis.calls] == ["shop:s:{v:ck-anon}", "shop:s:{v:ck-logged-in}",
                                              "shop:s:{v:ck-unknown}"]


def test_no_ids_means_no_groups_and_no_round_trip(redis: FakeRedis) -> None:
    client = GroupsClient(redis)  # type: ignore[arg-type]
    assert client.groups() == frozenset() and client.groups(customer_id="", visitor_id="") == frozenset()
    assert redis.calls == []


def test_the_banner_rule() -> None:
    assert may_show({"12"}, None) and may_show(set(), []) and may_show(set(), ())  # no restriction: everyone
    assert may_show({"1", "12"}, ["7", "12"])  # in at least one
    assert not may_show({"1"}, ["7", "12"])
    assert not may_show(set(), ["7"])
    assert may_show({"12"}, [12]) and may_show({"12"}, "12") and may_show({"12"}, 12)  # CMS numbers, bare IDs
    assert not may_show({"1", "2"}, "12")  # a bare string is one ID, not its characters
    assert restriction(["7", 12]) == frozenset({"7", "12"})


def test_may_show_uses_at_most_one_round_trip(redis: FakeRedis) -> None:
    client = GroupsClient(redis, prefix="shop")  # type: ignore[arg-type]
    assert client.may_show(None, customer_id="C42") is True
    assert redis.calls == []  # unrestricted content needs no lookup
    assert client.may_show(["7", "12"], visitor_id="ck-anon") is True
    assert client.may_show(["7"], customer_id="C42") is False
    assert client.may_show(["1"]) is False  # nobody known: only unrestricted content
    assert len(redis.calls) == 2


async def test_the_async_client_agrees() -> None:
    redis = AsyncFakeRedis(SETS)
    client = AsyncGroupsClient(redis, prefix="shop")  # type: ignore[arg-type]
    assert await client.groups(customer_id="C42", visitor_id="ck-anon") == frozenset({"1", "12"})
    assert await client.groups(visitor_id="ck-anon") == frozenset({"12"})
    assert await client.may_show([], visitor_id="ck-anon") is True
    assert await client.may_show(["1"], visitor_id="ck-anon") is False
    assert await client.may_show(["1", "7"], customer_id="C42") is True
    assert redis.calls == [("SMEMBERS", "shop:s:{c:C42}"), ("SMEMBERS", "shop:s:{v:ck-anon}"),
                           ("SMEMBERS", "shop:s:{v:ck-anon}"), ("SMEMBERS", "shop:s:{c:C42}")]


def test_key_logic_is_the_shared_keyspace() -> None:
    from pipeline.store.keys import KeySpace

    client = GroupsClient(FakeRedis({}), prefix="x")  # type: ignore[arg-type]
    assert client.key_for("C1", None) == KeySpace("x").subject("c:C1")
    assert client.key_for(None, "ck") == KeySpace("x").subject("v:ck")
    assert client.key_for(None, None) is None


def test_from_url_builds_clients_without_connecting() -> None:
    sync = GroupsClient.from_url("redis://127.0.0.1:1/0", prefix="p", decode_responses=True)
    assert sync.keys.prefix == "p" and sync.redis.get_connection_kwargs()["decode_responses"] is True
    async_client = AsyncGroupsClient.from_url("redis://127.0.0.1:1/0")
    assert async_client.keys.prefix == "cg"
    assert not isinstance(async_client, GroupsClient)
