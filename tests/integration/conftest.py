"""Fixtures for tests against the real local Kafka and Redis.

The servers come from ``deploy/local/servers.sh start`` (``make test`` starts them).
If they are not reachable every test here FAILS with a message saying so: a run
without servers must never look green. Each test gets its own names (app id, topic
names, Redis key prefix) so tests never see each other's data, and its topics and
keys are removed afterwards.

Tests marked ``redis_cluster`` run twice: against the single Redis (``CG_REDIS_URL``)
and against the local Redis Cluster (``servers.sh start cluster``; its URL is
``CG_TEST_REDIS_CLUSTER_URL``, by default ``redis+cluster://127.0.0.1:<CG_REDIS_CLUSTER_PORT,
17001>``). A test can also take ``redis_kind`` by ``parametrize(..., indirect=True)``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis, connect

HINT = "start them with `deploy/local/servers.sh start` (or `make servers`), then rerun"
CLUSTER_URL = (os.environ.get("CG_TEST_REDIS_CLUSTER_URL")
               or f"redis+cluster://127.0.0.1:{os.environ.get('CG_REDIS_CLUSTER_PORT') or 17001}")
REDIS_KINDS = ("single", "cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.path.as_posix():
            item.add_marker(pytest.mark.integration)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``redis_cluster`` tests: once per Redis kind (unless the test chose its kinds itself)."""
    chosen = any("redis_kind" in m.args[0] for m in metafunc.definition.iter_markers("parametrize") if m.args)
    if metafunc.definition.get_closest_marker("redis_cluster") and "redis_kind" in metafunc.fixturenames \
            and not chosen:
        metafunc.parametrize("redis_kind", REDIS_KINDS, indirect=True)


async def _kafka_topics(bootstrap: str, timeout_s: float = 10.0) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        return await asyncio.wait_for(admin.list_topics(), timeout_s)
    finally:
        await admin.close()


async def _redis_ping(url: str) -> None:
    client = connect(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await client.ping()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """Settings from the environment (CG_*), defaults pointing at the local servers."""
    return Settings()


@pytest.fixture(scope="session", autouse=True)
def servers(base_settings: Settings) -> None:
    """Fail, with a hint, unless Kafka and Redis both answer."""
    problems = []
    try:
        asyncio.run(_kafka_topics(base_settings.kafka_bootstrap))
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        problems.append(f"Kafka at {base_settings.kafka_bootstrap}: {type(exc).__name__}: {exc}")
    try:
        asyncio.run(_redis_ping(base_settings.redis_url))
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {base_settings.redis_url}: {type(exc).__name__}: {exc}")
    if problems:
        pytest.fail("integration servers not reachable -- " + "; ".join(problems) + f"; {HINT}", pytrace=False)


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """The local Redis Cluster's URL; fails, with a hint, unless the cluster answers."""
    try:
        asyncio.run(_redis_ping(CLUSTER_URL))
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        pytest.fail(f"Redis Cluster at {CLUSTER_URL} not reachable -- {type(exc).__name__}: {exc}; start it with "
                    "`deploy/local/servers.sh start cluster` (`make servers` starts it too), then rerun",
                    pytrace=False)
    return CLUSTER_URL


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """``single`` (CG_REDIS_URL) unless the test is parametrized over Redis kinds."""
    kind: str = getattr(request, "param", "single")
    assert kind in REDIS_KINDS, kind
    return kind


@pytest.fixture
def test_id() -> str:
    """A short unique name for this test: app id, topic prefix and Redis key prefix."""
    return f"cgtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(base_settings: Settings, test_id: str, tmp_path: Path, redis_kind: str,
             request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings whose Kafka names, Redis prefix and data dir belong to this test only, on the
    single Redis or the Redis Cluster (``redis_kind``).

    Topics starting with the test id (ours and Faust's internal ones) are deleted
    afterwards, best effort.
    """
    redis_url = request.getfixturevalue("redis_cluster_url") if redis_kind == "cluster" else base_settings.redis_url
    yield base_settings.model_copy(
        update={
            "redis_url": redis_url,
            "app_id": test_id,
            "topic_events": f"{test_id}.events",
            "topic_definitions": f"{test_id}.definitions",
            "topic_dead_letter": f"{test_id}.dead-letter",
            "redis_prefix": test_id,
            "data_dir": tmp_path / "worker",
        }
    )
    asyncio.run(_delete_topics(base_settings.kafka_bootstrap, test_id))


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    except Exception:  # noqa: BLE001 - cleanup must not hide the test's own result
        pass
    finally:
        await admin.close()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[AsyncRedis]:
    """A redis.asyncio client (``RedisCluster`` on the cluster); every key under ``<test id>:`` is
    deleted afterwards."""
    client = connect(settings.redis_url, decode_responses=True)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
