"""Create the project's Kafka topics, idempotently.

The local broker runs with ``auto.create.topics.enable=false`` (see
deploy/local/servers.sh), so every topic the pipeline reads or writes must be created
first. Faust creates only its own internal topics (table changelogs, the leader
topic); the topics we name are created here with the aiokafka admin client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from pipeline.settings import Settings

#: Room on top of ``CG_MAX_EVENT_BYTES`` for Kafka's record batch framing and the key.
RECORD_OVERHEAD = 16 * 1024
#: Room on the re-keying topics for the envelope around a forwarded event.
ENVELOPE_OVERHEAD = 64 * 1024


def project_topics(settings: Settings) -> list[str]:
    """The topics the pipeline needs, by name."""
    return [settings.topic_events, settings.topic_definitions, settings.topic_dead_letter]


def events_topic_max_bytes(settings: Settings) -> int:
    """``max.message.bytes`` of the events topic: an event of CG_MAX_EVENT_BYTES gets in."""
    return settings.max_event_bytes + RECORD_OVERHEAD


def internal_topic_max_bytes(settings: Settings) -> int:
    """``max.message.bytes`` of the re-keying topics: any accepted event can be forwarded."""
    return events_topic_max_bytes(settings) + ENVELOPE_OVERHEAD


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 1,
    replication: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics among ``names`` that do not exist yet; return those created.

    Safe to call again and from several processes at once: a topic that already
    exists (or that another process creates meanwhile) is not an error. Existing
    topics are left as they are, even if their partition count differs. Returns
    only once every wanted topic has a leader for each partition, so a producer or
    consumer started next does not see "unknown topic" or "not leader" errors.
    """
    wanted = list(dict.fromkeys(names))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            await _wait_until_led(admin, wanted, timeout_s)
            return []
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication, topic_configs=dict(configs or {})) for name in missing],
            timeout_ms=int(timeout_s * 1000),
        )
        created = []
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                message = topic_error[2] if len(topic_error) > 2 else ""
                raise for_code(code)(f"cannot create topic {name!r}: {message}")
        await _wait_until_led(admin, wanted, timeout_s)
        return created
    finally:
        await admin.close()


async def _wait_until_led(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Poll the metadata until each topic exists and every partition has a leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] != 0 or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics without a partition leader after {timeout_s}s: {pending}")
        await asyncio.sleep(0.1)


async def ensure_project_topics(settings: Settings) -> list[str]:
    """Create the pipeline's topics with the configured partitions and replication.

    The events topic takes records up to :func:`events_topic_max_bytes`; the
    definitions and dead-letter topics keep the broker's default (a dead letter
    is bounded, :mod:`pipeline.stream.dead_letter`).
    """
    created = await ensure_topics(
        settings.kafka_bootstrap,
        [settings.topic_events],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
        configs={"max.message.bytes": str(events_topic_max_bytes(settings))},
    )
    return created + await ensure_topics(
        settings.kafka_bootstrap,
        [settings.topic_definitions, settings.topic_dead_letter],
        partitions=settings.topic_partitions,
        replication=settings.topic_replication,
    )
