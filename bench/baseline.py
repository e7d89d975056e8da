"""Step 1, the baseline: how fast can Python here merely read and parse the topic?

A bare aiokafka consumer (no consumer group, no commits) reads the pre-filled
topic from the start and parses every value: with ``orjson.loads`` only (the
practical limit), then with the pipeline's own validation
(``schemas.decode.decode_event``: orjson + the pydantic event models).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import say
from schemas.decode import decode_event


@dataclass
class BaselineResult:
    label: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def consume_all(bootstrap: str, topic: str, expected: int, parse: Callable[[bytes], object],
                      label: str) -> BaselineResult:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - first lookup of a new topic
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count = 0
        started = time.perf_counter()
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    parse(record.value)
                count += len(records)
            if time.perf_counter() - started > 900:
                raise TimeoutError(f"{label}: read only {count:,} of {expected:,} events in 900s")
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    result = BaselineResult(label, count, seconds)
    say(f"  {label}: {count:,} events in {seconds:.1f}s = {result.rate:,.0f} events/s")
    return result


async def run(bootstrap: str, topic: str, expected: int) -> tuple[BaselineResult, BaselineResult]:
    say("step 1/7 baseline: a bare aiokafka consumer reading the topic from the start")
    plain = await consume_all(bootstrap, topic, expected, orjson.loads, "read + orjson.loads")
    validated = await consume_all(bootstrap, topic, expected, decode_event, "read + decode_event (pydantic)")
    return plain, validated
