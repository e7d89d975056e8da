"""Asking the running workers: estimates of a draft's members, and a reconcile of Redis.

The CLI's ``rules apply`` and ``reconcile`` and the tests use these; they talk
to a worker's admin API or to the profile stage's own topic, never to its objects.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from pipeline.settings import Settings
from schemas.groups import GroupDefinition


async def estimate_members(settings: Settings, definitions: list[GroupDefinition]) -> dict[str, str]:
    """How many members each new or changed dynamic group will have, asked of a running worker.

    Uses the worker's dry-run endpoint (the admin API) over the profiles it
    stores; with no worker reachable, says so instead of guessing.
    """
    import aiohttp

    dynamic = [d for d in definitions if d.type == "dynamic"]
    if not dynamic:
        return {}
    url = f"{settings.advertised_url}/api/groups/dry-run"
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


async def request_reconcile(settings: Settings, timeout: float = 600.0) -> list[dict[str, int]]:
    """Ask every partition's owner to rebuild its part of Redis; wait for all their reports."""
    import uuid

    import orjson

    from pipeline.store.connection import connect
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
    redis = connect(settings.redis_url)
    report = KeySpace(settings.redis_prefix).reconcile_report(request_id)
    try:
        async with asyncio.timeout(timeout):
            while await redis.hlen(report) < len(partitions):
                await asyncio.sleep(0.5)
        return [orjson.loads(v) for v in (await redis.hgetall(report)).values()]
    finally:
        await redis.aclose()
