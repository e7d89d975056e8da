"""Step 1, the baseline: how fast can Python here merely read and parse the topic?

A bare aiokafka consumer (no consumer group, no commits) reads the pre-filled
topic from the start and parses every value: with ``orjson.loads`` only (the
practical limit), then with the pipeline's own validation
(``schemas.decode.decode_event``: orjson + the pydantic event models).

A third yardstick: a Faust app whose one agent only parses each event
(``orjson.loads``) in batches, with its own consumer group and commits. That is
the most any pipeline built on Faust agents can reach on this machine: Faust
hands each message through its conductor, a queue and the stream iterator,
with acks and commit bookkeeping, in the same Python thread as the agent.
The same agent also reads the batched topic (a record: one event, or a JSON
array of events for one cookie), counting the events in each record, so the
batched pipeline has a ceiling measured the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import say
from pipeline.settings import Settings
from schemas.decode import decode_event


@dataclass
class BaselineResult:
    label: str
    events: int
    seconds: float
    records: int = 0  # Kafka records read, when that differs from events (batched records)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def events_per_record(self) -> float:
        return self.events / self.records if self.records else 1.0


def events_in(value: bytes) -> int:
    """Parse a record as ingest does first (orjson) and count its events: an array is a batch, else one."""
    parsed = orjson.loads(value)
    return len(parsed) if isinstance(parsed, list) else 1


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


FAUST_EVENTS = 200_000


async def faust_agent(settings: Settings, expected: int, timeout: float = 600.0, *,
                      batched: bool = False) -> BaselineResult:
    """A do-nothing Faust agent (parse only) over the topic: the ceiling of any Faust pipeline.

    It stops once it has counted ``expected`` events. With ``batched`` each record is
    parsed and its events counted (:func:`events_in`), so the rate is in events, as
    the batched pipeline's is.
    """
    import asyncio
    import logging

    import faust

    logging.getLogger("faust").setLevel(logging.WARNING)
    app_id = f"{settings.app_id}-faust-baseline"
    # Faust's default data directory is ``<app id>-data`` in the working directory.
    datadir = settings.data_dir / app_id
    datadir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
    app = faust.App(app_id, broker=settings.kafka_url, store="memory://", datadir=str(datadir),
                    web_enabled=False, consumer_auto_offset_reset="earliest",
                    topic_partitions=settings.topic_partitions, broker_commit_interval=1.0,
                    stream_buffer_maxsize=settings.batch_size * 4)
    topic = app.topic(settings.topic_events, key_serializer="raw", value_serializer="raw")
    done = asyncio.Event()
    seen = {"count": 0, "records": 0, "first": 0.0}

    async def parse_only(stream: faust.StreamT) -> None:  # type: ignore[type-arg]  # faust's StreamT is generic, untyped here
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_wait_seconds):
            if not seen["records"]:
                seen["first"] = time.perf_counter()
            if batched:
                seen["count"] += sum(events_in(event.value) for event in batch)
            else:
                for event in batch:
                    orjson.loads(event.value)
                seen["count"] += len(batch)
            seen["records"] += len(batch)
            if seen["count"] >= expected:
                done.set()

    app.agent(topic, name=f"{app_id}.parse")(parse_only)
    await app.start()
    try:
        await asyncio.wait_for(done.wait(), timeout)
        seconds = time.perf_counter() - seen["first"]
    finally:
        await app.stop()
    label = "Faust agent: read + orjson.loads" + (", events counted per batched record" if batched else "")
    result = BaselineResult(label, int(seen["count"]), seconds, int(seen["records"]))
    say(f"  {result.label}: {result.events:,} events in {result.records:,} records in {seconds:.1f}s = "
        f"{result.rate:,.0f} events/s ({result.events_per_record:.1f} events per record)")
    return result


async def run(settings: Settings, expected: int) -> tuple[BaselineResult, BaselineResult, BaselineResult]:
    say("step 1/7 baseline: a bare aiokafka consumer reading the topic from the start; then a Faust agent")
    bootstrap, topic = settings.kafka_bootstrap, settings.topic_events
    plain = await consume_all(bootstrap, topic, expected, orjson.loads, "read + orjson.loads")
    validated = await consume_all(bootstrap, topic, expected, decode_event, "read + decode_event (pydantic)")
    # The Faust agent is ~25x slower than the bare reads: its first FAUST_EVENTS events give the
    # same rate (it does not depend on the topic's length) in a fraction of the time.
    agent = await faust_agent(settings, min(expected, FAUST_EVENTS))
    return plain, validated, agent
