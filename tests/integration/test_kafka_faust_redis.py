"""End to end against the real servers: aiokafka -> Kafka -> Faust agent -> Redis."""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from redis.asyncio import Redis

from pipeline.assembly import build_worker
from pipeline.settings import Settings
from pipeline.topics import ensure_project_topics, project_topics
from tests.integration.echo_app import create_app, running, seen_key


async def _members_eventually(redis: Redis, key: str, expected: set[str], timeout_s: float = 30.0) -> set[str]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    members: set[str] = set()
    while asyncio.get_running_loop().time() < deadline:
        members = await redis.smembers(key)
        if members >= expected:
            break
        await asyncio.sleep(0.1)
    return members


async def test_ensure_topics_is_idempotent(settings: Settings) -> None:
    assert sorted(await ensure_project_topics(settings)) == sorted(project_topics(settings))
    assert await ensure_project_topics(settings) == []

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(project_topics(settings))
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == {
        name: settings.topic_partitions for name in project_topics(settings)
    }


async def test_the_worker_creates_every_topic_before_it_joins_its_group(settings: Settings) -> None:
    """Table changelogs too, compacted as Faust would: Faust's own creation could race the group's
    first assignment, which then left a changelog's partitions to no one ("Ignoring missing topic")."""
    worker = build_worker(settings, web_enabled=False)
    changelogs = sorted(table.changelog_topic.get_topic_name() for table in worker.tables)
    assert changelogs == sorted(f"{settings.app_id}-{name}-changelog"
                                for name in ("identity", "profiles", "applied-definitions"))
    await worker.prepare_topics()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        internal = [worker.by_visitor.get_topic_name(), worker.by_subject.get_topic_name()]
        described = await admin.describe_topics([*internal, *changelogs])
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in changelogs])
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == {
        name: settings.topic_partitions for name in [*internal, *changelogs]}
    policies = {resource[3]: {entry[0]: entry[1] for entry in resource[4]}["cleanup.policy"]
                for response in configs for resource in response.resources}
    assert policies == {name: "compact" for name in changelogs}


async def test_event_produced_to_kafka_lands_in_redis_via_faust_agent(settings: Settings, redis: Redis) -> None:
    await ensure_project_topics(settings)
    ids = {f"evt-{n}" for n in range(20)}

    async with running(create_app(settings)):
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for event in sorted(ids):
                await producer.send_and_wait(settings.topic_events, orjson.dumps({"id": event}), key=event.encode())
            await producer.send_and_wait(settings.topic_events, b"not json")  # skipped, must not crash the agent
        finally:
            await producer.stop()
        members = await _members_eventually(redis, seen_key(settings), ids)

    assert members == ids
