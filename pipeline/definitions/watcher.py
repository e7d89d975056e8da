"""Group definitions as every worker sees them: the whole compacted topic, live.

Every worker needs every definition, so this is a plain consumer with no
consumer group that reads the topic from the start and then follows it (a
Faust GlobalTable stops following partitions the worker also owns; see
faust-streaming #283). The registry is replaced as a whole on each change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from schemas.groups import GroupDefinition

log = logging.getLogger(__name__)

OnChange = Callable[[GroupRegistry], Awaitable[None]]


async def read_to_end(consumer: AIOKafkaConsumer, apply: Callable[[bytes | None, bytes | None], None]) -> None:
    """Feed every record of a started, group-less consumer's topic to ``apply(key, value)``.

    Reads from the beginning up to the end offsets seen on arrival: what a
    compacted topic holds now. Used by every worker and by ``rules apply``.
    """
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)  # lets the consumer assign itself
    ends = await consumer.end_offsets(list(consumer.assignment()))
    for tp in ends:
        await consumer.seek_to_beginning(tp)
    while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            for record in batch:
                apply(record.key, record.value)


class DefinitionsWatcher:
    def __init__(self, bootstrap: str, topic: str, policy: ProfilePolicy, on_change: OnChange) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.policy = policy
        self.on_change = on_change
        self.ready = asyncio.Event()
        self.registry = GroupRegistry()
        self._definitions: dict[str, GroupDefinition] = {}

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        group_id = (key or b"").decode("utf-8", "replace")
        if value is None:
            self._definitions.pop(group_id, None)  # a tombstone: the group was deleted
            return
        try:
            definition = GroupDefinition.model_validate_json(value)
        except ValidationError as exc:
            log.error("ignoring an invalid definition for group %r: %s", group_id, exc)
            return
        self._definitions[definition.id] = definition

    async def _rebuild(self) -> None:
        registry = GroupRegistry.from_definitions(self._definitions.values(), self.policy)
        for error in registry.errors:
            log.error("group definition skipped: %s", error)
        self.registry = registry
        await self.on_change(registry)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            await read_to_end(consumer, self._apply)
            await self._rebuild()
            self.ready.set()
            log.info("definitions loaded: %d group(s)", len(self.registry.groups))
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                records = [r for batch in batches.values() for r in batch]
                if records:
                    for r in records:
                        self._apply(r.key, r.value)
                    await self._rebuild()
                    log.info("definitions changed: %d group(s) now", len(self.registry.groups))
        finally:
            await consumer.stop()
