"""CG_REDIS_URL's scheme chooses the client: one Redis, or a Redis Cluster (nothing here connects)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.cluster
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ClusterDownError, ResponseError, SlotNotCoveredError, TryAgainError
from redis.utils import HIREDIS_AVAILABLE

from pipeline.store.connection import (
    HiredisPackingConnection,
    cluster_url,
    connect,
    connect_sync,
    is_cluster_url,
)
from pipeline.stream.effects import is_connection_error


async def test_a_plain_url_is_one_redis_packing_with_hiredis() -> None:
    client = connect("redis://127.0.0.1:1/3", decode_responses=True)
    try:
        assert type(client) is Redis
        kwargs = client.connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["decode_responses"]) == ("127.0.0.1", 1, 3, True)
        expected = HiredisPackingConnection if HIREDIS_AVAILABLE else client.connection_pool.connection_class
        assert client.connection_pool.connection_class is expected
    finally:
        await client.aclose()


async def test_tls_and_unix_urls_are_one_redis_with_redis_pys_own_connection() -> None:
    for url in ("rediss://127.0.0.1:1/0", "unix:///tmp/nowhere.sock"):
        client = connect(url)
        try:
            assert type(client) is Redis
            assert client.connection_pool.connection_class is not HiredisPackingConnection
        finally:
            await client.aclose()


async def test_a_cluster_url_is_redis_pys_cluster_client() -> None:
    client = connect("redis+cluster://127.0.0.1:1", decode_responses=True, socket_timeout=3)
    try:
        assert isinstance(client, RedisCluster)
        (node,) = client.startup_nodes
        assert (node.host, node.port) == ("127.0.0.1", 1)
        assert client.connection_kwargs["decode_responses"] is True
        assert client.connection_kwargs["socket_timeout"] == 3
        assert client.connection_kwargs["connection_class"] is not SSLConnection
    finally:
        await client.aclose()


async def test_a_tls_cluster_url_is_a_cluster_client_over_tls() -> None:
    client = connect("rediss+cluster://user:secret@127.0.0.1:1/0")
    try:
        assert isinstance(client, RedisCluster)
        assert client.connection_kwargs["connection_class"] is SSLConnection
        assert (client.connection_kwargs["username"], client.connection_kwargs["password"]) == ("user", "secret")
    finally:
        await client.aclose()


def test_cluster_urls_are_told_apart_and_translated() -> None:
    assert is_cluster_url("redis+cluster://h:7000") and is_cluster_url("rediss+cluster://h:7000/")
    assert not is_cluster_url("redis://h:6379/0") and not is_cluster_url("rediss://h:6379")
    assert cluster_url("redis+cluster://h:7000") == "redis://h:7000"
    assert cluster_url("redis+cluster://h:7000/0?socket_timeout=5") == "redis://h:7000?socket_timeout=5"
    assert cluster_url("rediss+cluster://u:p@h:7000/") == "rediss://u:p@h:7000"
    with pytest.raises(ValueError, match="only database 0"):
        cluster_url("redis+cluster://h:7000/2")
    with pytest.raises(ValueError, match="not a Redis Cluster URL"):
        cluster_url("redis://h:7000")
    with pytest.raises(ValueError, match="only database 0"):
        connect("redis+cluster://h:7000/2")


def test_the_synchronous_client_follows_the_same_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = connect_sync("redis://127.0.0.1:1/2", decode_responses=True)
    assert type(plain) is redis.Redis
    assert plain.get_connection_kwargs()["db"] == 2
    plain.close()

    made: list[tuple[str, dict[str, Any]]] = []

    def from_url(url: str, **options: Any) -> str:  # the sync cluster client asks a node at once: not here
        made.append((url, options))
        return "cluster client"

    monkeypatch.setattr(redis.cluster.RedisCluster, "from_url", from_url)
    assert connect_sync("rediss+cluster://127.0.0.1:7001", socket_timeout=60) == "cluster client"
    assert made == [("rediss://127.0.0.1:7001", {"socket_timeout": 60})]


def test_a_cluster_between_masters_is_unavailable_not_broken() -> None:
    """CLUSTERDOWN, an uncovered slot and TRYAGAIN are waited out (retried), as a lost connection is."""
    for exc in (ClusterDownError("CLUSTERDOWN"), SlotNotCoveredError("slot 7 not covered"), TryAgainError("x"),
                redis.ConnectionError("gone"), redis.TimeoutError("slow"), ConnectionResetError()):
        assert is_connection_error(exc), exc
    assert not is_connection_error(ResponseError("WRONGTYPE"))
    assert not is_connection_error(ValueError("bug"))
