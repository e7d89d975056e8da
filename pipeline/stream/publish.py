"""Publishing group definitions to the compacted definitions topic (``rules apply``).

The topic holds the latest definition per group ID (the message key); deleting
a group writes a tombstone. Workers follow the topic and back-fill new or
changed dynamic groups over their stored profiles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from pipeline.registry import fingerprint
from pipeline.settings import Settings
from pipeline.stream.definitions import read_to_end
from pipeline.stream.topics import ensure_topics
from schemas.groups import GroupDefinition

COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}


@dataclass
class DefinitionsDiff:
    added: list[GroupDefinition] = field(default_factory=list)
    changed: list[GroupDefinition] = field(default_factory=list)  # rules or type changed
    renamed: list[GroupDefinition] = field(default_factory=list)  # only name/description changed
    removed: list[GroupDefinition] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.renamed or self.removed)

    def described(self) -> list[tuple[str, GroupDefinition]]:
        out = [(f"+ {d.id} {d.type} {d.name!r}", d) for d in self.added]
        out += [(f"~ {d.id} {d.type} {d.name!r} (rules changed)", d) for d in self.changed]
        out += [(f"~ {d.id} {d.type} {d.name!r} (name or description)", d) for d in self.renamed]
        out += [(f"- {d.id} {d.type} {d.name!r}", d) for d in self.removed]
        return out

    def lines(self) -> list[str]:
        return [line for line, _ in self.described()]


def diff(current: dict[str, GroupDefinition], wanted: Iterable[GroupDefinition]) -> DefinitionsDiff:
    result = DefinitionsDiff()
    wanted_by_id = {d.id: d for d in wanted}
    for gid, new in sorted(wanted_by_id.items()):
        old = current.get(gid)
        if old is None:
            result.added.append(new)
        elif fingerprint(old) != fingerprint(new):
            result.changed.append(new)
        elif old != new:
            result.renamed.append(new)
    result.removed = [d for gid, d in sorted(current.items()) if gid not in wanted_by_id]
    return result


async def estimate_members(settings: Settings, definitions: list[GroupDefinition]) -> dict[str, str]:
    """How many members each new or changed dynamic group will have, asked of a running worker.

    Uses the worker's dry-run endpoint (the admin API) over the profiles it
    stores; with no worker reachable, says so instead of guessing.
    """
    import aiohttp

    dynamic = [d for d in definitions if d.type == "dynamic"]
    if not dynamic:
        return {}
    url = f"http://{settings.web_host}:{settings.web_port}/api/groups/dry-run"
    headers = {"Authorization": f"Bearer {settings.admin_token}"} if settings.admin_token else {}
    estimates: dict[str, str] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            for definition in dynamic:
                body = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
                async with http.post(url, json=body, headers=headers) as response:
                    data = await response.json()
                    if response.status != 200:
                        estimates[definition.id] = f"(no estimate: {data.get('error', response.status)})"
                        continue
                estimates[definition.id] = (f"{data['customers']} customers and {data['anonymous_guests']} "
                                            f"anonymous guests of {data['profiles_scanned']} profiles")
    except (TimeoutError, aiohttp.ClientError, OSError):
        return {d.id: f"(no estimate: no worker answering at {url})" for d in dynamic}
    return estimates


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


async def request_reconcile(settings: Settings, timeout: float = 600.0) -> list[dict[str, int]]:
    """Ask every partition's owner to rebuild its part of Redis; wait for all their reports."""
    import uuid

    import orjson
    from redis.asyncio import Redis

    from pipeline.store.keys import KeySpace
    from pipeline.stream.envelope import Reconcile, encode

    request_id = uuid.uuid4().hex
    topic = f"{settings.app_id}.by-subject"
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic) or ())
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist: has a worker with app id "
                               f"{settings.app_id!r} ever run?")
        for partition in partitions:
            await producer.send_and_wait(topic, encode(Reconcile(partition, request_id)),
                                         key=b"__reconcile__", partition=partition)
    finally:
        await producer.stop()
    redis = Redis.from_url(settings.redis_url)
    report = KeySpace(settings.redis_prefix).reconcile_report(request_id)
    try:
        async with asyncio.timeout(timeout):
            while await redis.hlen(report) < len(partitions):
                await asyncio.sleep(0.5)
        return [orjson.loads(v) for v in (await redis.hgetall(report)).values()]
    finally:
        await redis.aclose()
