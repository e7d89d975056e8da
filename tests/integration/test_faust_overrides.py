"""The project's override of a Faust defect, against the real broker (pipeline.stream.faust_compat).

Upstream ``ProducerBuffer.flush()`` returns once 0.1 s pass without a message
leaving the buffer, with messages still queued; Faust calls it right before
committing offsets. Any send slower than 0.1 s (a busy broker, a full
accumulator) is enough: here each send is slowed to 0.15 s. The reproduction
asserts the defect, so it fails (and says the override can go) once upstream
is fixed; the override must return only with the buffer empty and every
message in Kafka.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.settings import Settings
from pipeline.stream import faust_compat
from pipeline.topics import ensure_topics

MESSAGES = 20


@pytest.fixture
async def slow_buffer(settings: Settings) -> AsyncIterator[tuple[Any, str]]:
    """A started Faust producer whose buffer holds MESSAGES messages, each taking 0.15 s to send."""
    faust_compat.install_overrides()  # put() must track what flush() waits for
    topic_name = f"{settings.app_id}.flush"
    await ensure_topics(settings.kafka_bootstrap, [topic_name], partitions=1)
    app = faust.App(f"{settings.app_id}-flush", broker=settings.kafka_url, web_enabled=False)
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")
    buffer = app.producer.buffer
    send = buffer._send_pending  # noqa: SLF001 - slowing the real send down (before the buffer's task starts)

    async def slow_send(fut: Any) -> None:
        await asyncio.sleep(0.15)
        await send(fut)

    buffer._send_pending = slow_send  # noqa: SLF001
    await app.producer.start()
    for i in range(MESSAGES):
        topic.send_soon(value=str(i).encode())
    try:
        yield buffer, topic_name
    finally:
        await faust_compat.flush_until_empty(buffer)
        await app.producer.stop()


async def _in_kafka(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()


async def test_reproduction_upstream_flush_returns_with_messages_queued(slow_buffer: tuple[Any, str]) -> None:
    buffer, _ = slow_buffer
    await faust_compat.UPSTREAM_FLUSH(buffer)
    assert buffer.size > MESSAGES // 2, "upstream flush drained the buffer: is the override still needed?"


async def test_the_override_returns_only_when_every_message_was_sent(
        settings: Settings, slow_buffer: tuple[Any, str]) -> None:
    buffer, topic = slow_buffer
    await faust_compat.flush_until_empty(buffer)
    assert buffer.size == 0
    assert await _in_kafka(settings, topic) == MESSAGES  # acknowledged, with no other flush


async def test_a_record_the_broker_refuses_makes_every_later_flush_raise(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The topic takes records of at most 200 bytes; one of 2,000 is refused for good
    (MessageSizeTooLargeError, not retried). Faust only logs it: the flush must raise, and
    keep raising, or Faust would commit past the lost write."""
    faust_compat.install_overrides()
    topic_name = f"{settings.app_id}.small"
    await ensure_topics(settings.kafka_bootstrap, [topic_name], partitions=1, configs={"max.message.bytes": "200"})
    app = faust.App(f"{settings.app_id}-small", broker=settings.kafka_url, web_enabled=False)
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")
    told: list[BaseException] = []
    # only this listener: a worker another test built (and never stopped) would exit this process
    monkeypatch.setattr(faust_compat, "send_lost_listeners", [lambda buffer, fut, exc: told.append(exc)])
    await app.producer.start()
    try:
        topic.send_soon(value=b"small")
        topic.send_soon(value=b"x" * 2000)
        with pytest.raises(faust_compat.SendLost, match=topic_name):
            await asyncio.wait_for(faust_compat.flush_until_empty(app.producer.buffer), 60)
        with pytest.raises(faust_compat.SendLost):
            await faust_compat.flush_until_empty(app.producer.buffer)
        assert [type(e).__name__ for e in told] == ["MessageSizeTooLargeError"]
        assert await _in_kafka(settings, topic_name) == 1
    finally:
        await asyncio.gather(app.producer.stop(), return_exceptions=True)  # its flush raises too


def test_the_worker_installs_the_override(settings: Settings) -> None:
    from faust.transport.consumer import Consumer

    from pipeline.stream import rewind
    from pipeline.stream.lean_monitor import LeanMonitor
    from pipeline.stream.worker import Worker

    worker = Worker(settings, web_enabled=False)  # installs them, as every worker process does
    assert isinstance(worker.app.monitor, LeanMonitor)
    assert faust_compat.ProducerBuffer.flush is faust_compat.flush_until_empty
    assert faust_compat.ProducerBuffer.put is faust_compat.put_tracked
    assert Consumer.getmany is rewind.getmany_rewinding
    assert Consumer.perform_seek is rewind.perform_seek_tracked
    assert Consumer._new_offset is rewind.new_offset_no_hole  # noqa: SLF001
    assert Consumer._add_gap is rewind.add_gap_never_as_processed  # noqa: SLF001
    assert Consumer._drain_messages is faust_compat.drain_in_order  # noqa: SLF001
    assert faust_compat.AIOKafkaConsumerThread.topic_partitions is faust_compat.topic_partitions_from_cluster


def test_a_worker_exits_on_its_own_producers_lost_record_only(settings: Settings) -> None:
    from pipeline.stream.process import EXIT_SEND_LOST
    from pipeline.stream.worker import Worker

    exits: list[int] = []
    worker = Worker(settings, web_enabled=False, exit_process=exits.append)
    other = Worker(settings.model_copy(update={"app_id": f"{settings.app_id}-other"}), web_enabled=False,
                   exit_process=exits.append)
    try:
        error = RuntimeError("MessageSizeTooLargeError")
        for listener in faust_compat.send_lost_listeners:
            listener(other.app.producer.buffer, None, error)  # type: ignore[arg-type]  # not read
        assert exits == [EXIT_SEND_LOST]  # the other worker's listener, not this one's
        assert "kafka-send" not in worker.health.failing_now
        worker._send_lost(worker.app.producer.buffer, None, error)  # noqa: SLF001
        assert exits == [EXIT_SEND_LOST, EXIT_SEND_LOST]
        assert "kafka-send" in worker.health.failing_now
    finally:
        for built in (worker, other):
            faust_compat.send_lost_listeners.remove(built._send_lost)  # noqa: SLF001 - never started
