"""The compacted definitions topic: created, read to its end, written (``rules apply``).

The topic holds the latest definition per group ID (the message key); deleting
a group writes a tombstone. Workers follow it (:mod:`pipeline.definitions.watcher`)
and back-fill new or changed dynamic groups over their stored profiles.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.definitions.diff import DefinitionsDiff
from pipeline.definitions.watcher import read_to_end
from pipeline.settings import Settings
from pipeline.topics import ensure_topics
from schemas.groups import GroupDefinition

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}


async def ensure_definitions_topic(settings: Settings) -> None:
    await ensure_topics(settings.kafka_bootstrap, [settings.topic_definitions], partitions=1,
                        replication=settings.topic_replication, configs=COMPACTED)


async def read_definitions(settings: Settings, timeout: float = 30.0) -> dict[str, GroupDefinition]:
    """The definitions currently on the topic (the latest per group, tombstones applied)."""
    await ensure_definitions_topic(settings)
    consumer = AIOKafkaConsumer(settings.topic_definitions, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    current: dict[str, GroupDefinition] = {}

    def apply(key: bytes | None, value: bytes | None) -> None:
        gid = key.decode() if key else ""
        if value is None:
            current.pop(gid, None)  # a tombstone: the group was deleted
        else:
            current[gid] = GroupDefinition.model_validate_json(value)

    try:
        async with asyncio.timeout(timeout):
            await read_to_end(consumer, apply)
    finally:
        await consumer.stop()
    return current


async def publish(settings: Settings, changes: DefinitionsDiff) -> int:
    """Write the changes (tombstones for removed groups); returns messages written."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = 0
        for definition in (*changes.added, *changes.changed, *changes.renamed):
            value = definition.model_dump_json(by_alias=True, exclude_none=True).encode()
            await producer.send_and_wait(settings.topic_definitions, value=value, key=definition.id.encode())
            sent += 1
        for definition in changes.removed:
            await producer.send_and_wait(settings.topic_definitions, value=None, key=definition.id.encode())
            sent += 1
        return sent
    finally:
        await producer.stop()
