"""Does this venv's aiokafka / faust-streaming work against a given Kafka broker?

Run it against a broker (any version) before changing the pinned Kafka version or
the client pins; docs/kafka-version.md records its results:

    .venv/bin/python deploy/local/kafka/compat_probe.py 127.0.0.1:19092

It creates throwaway topics named probe-<random>.* (the broker may keep them) and
prints PASS/FAIL per step, the protocol version chosen for each request type next
to the broker's supported range, and exits non-zero if any step failed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Awaitable

import aiokafka.conn
import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

BS = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:19092"
P = "probe-" + uuid.uuid4().hex[:6]
RESULTS: list[bool] = []
USED: dict[str, object] = {}

# Record which request struct (= protocol version) aiokafka picks on each connection.
_send = aiokafka.conn.AIOKafkaConnection.send


def _recording_send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        struct = request.prepare(self._versions) if hasattr(request, "prepare") else request
        USED[type(struct).__name__] = self._versions.get(struct.API_KEY)
    except Exception:  # noqa: BLE001 - the real send reports the problem
        pass
    return _send(self, request, *args, **kwargs)


aiokafka.conn.AIOKafkaConnection.send = _recording_send  # type: ignore[method-assign]


async def step(name: str, coro: Awaitable[str]) -> None:
    started = time.monotonic()
    try:
        detail, ok = await asyncio.wait_for(coro, 90), True
    except Exception as exc:  # noqa: BLE001
        detail, ok = f"{type(exc).__name__}: {exc}", False
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name} ({time.monotonic() - started:.1f}s) {detail}", flush=True)


async def admin_ops() -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=BS)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{P}.t", 3, 1), NewTopic(f"{P}.out", 1, 1), NewTopic(f"{P}.del", 1, 1)])
        again = await admin.create_topics([NewTopic(f"{P}.t", 3, 1)])
        assert again.topic_errors[0][1] == 36, again  # TOPIC_ALREADY_EXISTS
        described = await admin.describe_topics([f"{P}.t"])
        assert len(described[0]["partitions"]) == 3
        await admin.delete_topics([f"{P}.del"])
        await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, f"{P}.t")])
        await admin.list_consumer_groups()
        return "create, duplicate -> error 36, describe, delete, describe_configs, list_groups"
    finally:
        await admin.close()


async def produce() -> str:
    producer = AIOKafkaProducer(bootstrap_servers=BS, acks="all", enable_idempotence=True, compression_type="gzip")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(f"{P}.t", f"m{i}".encode(), key=str(i).encode(), headers=[("h", b"v")])
        return "10 messages, idempotent, gzip, headers"
    finally:
        await producer.stop()


async def consume_group() -> str:
    consumer = AIOKafkaConsumer(f"{P}.t", bootstrap_servers=BS, group_id=f"{P}-g",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        got = 0
        while got < 10:
            got += sum(len(m) for m in (await consumer.getmany(timeout_ms=1000)).values())
        await consumer.commit()
    finally:
        await consumer.stop()
    consumer = AIOKafkaConsumer(f"{P}.t", bootstrap_servers=BS, group_id=f"{P}-g", auto_offset_reset="earliest")
    await consumer.start()
    try:
        again = sum(len(m) for m in (await consumer.getmany(timeout_ms=3000)).values())
        assert again == 0, f"{again} messages re-delivered after commit"
        return f"{got} consumed in group, committed, a new member resumes after them"
    finally:
        await consumer.stop()


async def transactions() -> str:
    producer = AIOKafkaProducer(bootstrap_servers=BS, transactional_id=f"{P}-tx")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(f"{P}.out", b"committed")
            await producer.send_offsets_to_transaction({TopicPartition(f"{P}.t", 0): 1}, f"{P}-txg")
        await producer.begin_transaction()
        await producer.send(f"{P}.out", b"aborted")
        await producer.abort_transaction()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(f"{P}.out", bootstrap_servers=BS, isolation_level="read_committed",
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                values += [m.value for m in messages]
        assert values == [b"committed"], values
        return "commit visible, abort invisible (read_committed), send_offsets_to_transaction"
    finally:
        await consumer.stop()


async def faust_worker(guarantee: str) -> str:
    app = faust.App(f"{P}-{guarantee}", broker=f"kafka://{BS}", store="memory://", web_enabled=False,
                    datadir=f"/tmp/{P}-{guarantee}", topic_partitions=1, topic_replication_factor=1,
                    processing_guarantee=guarantee)
    source = app.topic(f"{P}.faust-in-{guarantee}", value_serializer="raw", internal=True)  # Faust creates it
    out = app.topic(f"{P}.faust-out-{guarantee}", value_serializer="raw", internal=True)
    counts = app.Table("counts", default=int)  # changelog topic, created by Faust
    seen: asyncio.Queue[bytes] = asyncio.Queue()

    @app.agent(source)
    async def agent(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            counts[value] += 1
            await out.send(value=value)
            await seen.put(value)

    await app.start()
    try:
        await out.maybe_declare()  # Faust declares only the topics it consumes
        while not app.consumer.assignment():
            await asyncio.sleep(0.1)
        producer = AIOKafkaProducer(bootstrap_servers=BS)
        await producer.start()
        await producer.send_and_wait(f"{P}.faust-in-{guarantee}", b"hello")
        await producer.stop()
        got = await asyncio.wait_for(seen.get(), 30)
        consumer = AIOKafkaConsumer(f"{P}.faust-out-{guarantee}", bootstrap_servers=BS,
                                    auto_offset_reset="earliest", isolation_level="read_committed")
        await consumer.start()
        sent: list[bytes] = []
        for _ in range(20):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                sent += [m.value for m in messages]
            if sent:
                break
        await consumer.stop()
        assert got == b"hello" and sent == [b"hello"] and counts[b"hello"] == 1, (got, sent)
        return "topics + changelog created by Faust, agent consumed, table updated, agent's send delivered"
    finally:
        await app.stop()


async def main() -> int:
    await step("admin client", admin_ops())
    await step("producer", produce())
    await step("consumer group", consume_group())
    await step("transactions", transactions())
    await step("faust worker, at_least_once", faust_worker("at_least_once"))
    await step("faust worker, exactly_once (transactional)", faust_worker("exactly_once"))
    print("request versions used (aiokafka struct -> broker's supported min..max):")
    for name in sorted(USED):
        print(f"    {name:<28} {USED[name]}")
    print(f"{BS}: {sum(RESULTS)} passed, {len(RESULTS) - sum(RESULTS)} failed")
    return 0 if all(RESULTS) else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    sys.exit(asyncio.run(main()))
