"""Fixtures for tests against the real local Kafka and Redis.

The servers come from ``deploy/local/servers.sh start`` (``make test`` starts them).
If they are not reachable every test here FAILS with a message saying so: a run
without servers must never look green. Each test gets its own names (app id, topic
names, Redis key prefix) so tests never see each other's data, and its topics and
keys are removed afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from pipeline.settings import Settings

HINT = "start them with `deploy/local/servers.sh start` (or `make servers`), then rerun"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.path.as_posix():
            item.add_marker(pytest.mark.integration)


async def _kafka_topics(bootstrap: str, timeout_s: float = 10.0) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        return await asyncio.wait_for(admin.list_topics(), timeout_s)
    finally:
        await admin.close()


async def _redis_ping(url: str) -> None:
    client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
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


@pytest.fixture
def test_id() -> str:
    """A short unique name for this test: app id, topic prefix and Redis key prefix."""
    return f"cgtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(base_settings: Settings, test_id: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings whose Kafka names, Redis prefix and data dir belong to this test only.

    Topics starting with the test id (ours and Faust's internal ones) are deleted
    afterwards, best effort.
    """
    yield base_settings.model_copy(
        update={
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
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A redis.asyncio client; every key under ``<test id>:`` is deleted afterwards."""
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{settings.redis_prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
