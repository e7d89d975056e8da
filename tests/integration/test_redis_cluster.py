"""What only a Redis Cluster can show: a lookup is one command to one node, and SCAN sees every master.

The tests that run the worker against the cluster are the ``redis_cluster`` ones
(membership, reconcile, self-healing, export, client); these check two promises
of the contract directly against the local cluster (``servers.sh start cluster``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import redis as redis_sync

from pipeline.client import AsyncGroupsClient, GroupsClient
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis, connect, connect_sync
from pipeline.store.keys import KeySpace
from pipeline.stream.reconcile import ReconcileStats, find_stale

pytestmark = pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)

#: What the test's own per-node connections send while counting (opened before the count starts).
OWN = {"config|resetstat", "info"}


@pytest.fixture
def masters(settings: Settings) -> Iterator[dict[str, redis_sync.Redis]]:
    """A plain connection to each master, by node name (host:port), to count what each one served."""
    cluster = connect_sync(settings.redis_url)
    assert isinstance(cluster, redis_sync.RedisCluster)
    nodes = {n.name: redis_sync.Redis(host=n.host, port=n.port) for n in cluster.get_primaries()}
    cluster.close()
    for node in nodes.values():
        node.ping()  # connected (and its handshake done) before any count
    try:
        yield nodes
    finally:
        for node in nodes.values():
            node.close()


def reset(masters: dict[str, redis_sync.Redis]) -> None:
    for node in masters.values():
        node.config_resetstat()


def served(masters: dict[str, redis_sync.Redis]) -> dict[str, Counter[str]]:
    """Commands each master ran since :func:`reset`, other than the counting's own, and those it
    refused (``<command> rejected``: a MOVED redirect is one) or failed."""
    counts: dict[str, Counter[str]] = {}
    for name, node in masters.items():
        found: Counter[str] = Counter()
        for key, stats in node.info("commandstats").items():
            cmd = key.removeprefix("cmdstat_")
            if cmd not in OWN:
                found.update({cmd: int(stats["calls"]), f"{cmd} rejected": int(stats.get("rejected_calls", 0)),
                              f"{cmd} failed": int(stats.get("failed_calls", 0))})
        counts[name] = Counter({cmd: n for cmd, n in found.items() if n})
    return counts


async def lookup(client: GroupsClient | AsyncGroupsClient, customer: str) -> frozenset[str]:
    """A logged-in shopper's lookup (the customer's key wins over the cookie's)."""
    if isinstance(client, GroupsClient):
        return client.groups(customer_id=customer, visitor_id="ck-ignored")
    return await client.groups(customer_id=customer, visitor_id="ck-ignored")


async def test_a_lookup_is_one_smembers_to_one_node(settings: Settings, redis: AsyncRedis,
                                                    masters: dict[str, redis_sync.Redis]) -> None:
    keys = KeySpace(settings.redis_prefix)
    assert len(masters) == 3
    shoppers = [f"C{i}" for i in range(12)]
    for i, customer in enumerate(shoppers):
        await redis.sadd(keys.subject(f"c:{customer}"), str(i), "99")
    sync_client = GroupsClient.from_url(settings.redis_url, prefix=settings.redis_prefix)
    async_client = AsyncGroupsClient.from_url(settings.redis_url, prefix=settings.redis_prefix)
    owners = {redis.get_node_from_key(keys.subject(f"c:{c}")).name for c in shoppers}
    assert len(owners) > 1  # the shoppers' keys really are spread over the masters
    try:
        for i, customer in enumerate(shoppers):
            owner = redis.get_node_from_key(keys.subject(f"c:{customer}")).name
            for client in (sync_client, async_client):
                # warm: the client knows the slots and has its connection to the owner (a new asyncio
                # RedisCluster sends its very first command before it knows the slots: one MOVED)
                assert await lookup(client, customer) == {str(i), "99"}
                reset(masters)
                assert await lookup(client, customer) == {str(i), "99"}
                counts = served(masters)
                assert counts[owner] == Counter({"smembers": 1}), (type(client).__name__, customer, counts)
                assert not any(counts[name] for name in masters if name != owner), (type(client).__name__, customer, counts)
    finally:
        sync_client.redis.close()
        await async_client.redis.aclose()


async def test_reconcile_scans_every_master(settings: Settings, redis: AsyncRedis) -> None:
    """find_stale (the reconcile's SCAN and SSCAN) finds what no profile explains on all three masters."""
    keys = KeySpace(settings.redis_prefix)
    subjects = [f"c:c{i}" for i in range(60)] + [f"v:ck{i}" for i in range(60)]
    groups = [str(g) for g in range(12)]
    for n, subject in enumerate(subjects):
        anonymous, raw = subject[0] == "v", subject[2:]
        await redis.sadd(keys.subject(subject), groups[n % 12])
        await redis.sadd(keys.members(groups[n % 12], anonymous), raw)
    await redis.sadd(keys.subject("v:ck-mirror"), "1")  # a cookie that mirrors a customer: never stale
    await redis.set(keys.link("v:ck-mirror"), "c:c0")
    nodes = {redis.get_node_from_key(keys.subject(s)).name for s in subjects}
    nodes |= {redis.get_node_from_key(keys.members(g, False)).name for g in groups}
    assert len(nodes) == 3  # the keys are spread over every master

    client = connect(settings.redis_url)  # as the worker's: bytes replies
    try:
        stats = ReconcileStats(partition=0)
        # only c0..c9 are stored profiles (in group "0" .. "9" as Redis says): everything else is stale
        stored = {f"c:c{i}": {str(i)} for i in range(10)}
        await find_stale(client, keys, 0, lambda subject: 0, stored, stats)
    finally:
        await client.aclose()
    assert stats.stale_subject_keys == len(subjects) - 10
    assert stats.stale_members == len(subjects) - 10
    deleted = {c[1] for c in stats.commands if c[0] == "DEL"}
    assert deleted == {keys.subject(s) for s in subjects[10:]}
    removed = {(c[1], c[2]) for c in stats.commands if c[0] == "SREM"}
    assert removed == {(keys.members(groups[n % 12], s[0] == "v"), s[2:]) for n, s in enumerate(subjects) if n >= 10}
