"""The bulk writer against the real single Redis and the real Redis Cluster.

It must leave exactly the state redis-py's own pipeline leaves for the same
commands, stop at a refusal with a clear error, leave no connection out of step
when interrupted, and on a cluster follow a slot that moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from redis.asyncio.cluster import RedisCluster

from pipeline.settings import Settings
from pipeline.store import bulk
from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace
from pipeline.store.writer import MembershipWriter
from pipeline.stream.memory import MemoryRedis

pytestmark = pytest.mark.redis_cluster


def mixed_commands(prefix: str, count: int, seed: int = 1) -> list[tuple[str, ...]]:
    """Idempotent commands over a few hundred keys in many slots, order-dependent per key."""
    rng = random.Random(seed)
    commands: list[tuple[str, ...]] = []
    for _ in range(count):
        tag = f"{{k{rng.randrange(300)}}}"
        roll = rng.random()
        if roll < 0.6:
            commands.append(("SADD", f"{prefix}:s:{tag}", *(str(rng.randrange(50)) for _ in range(rng.randint(1, 3)))))
        elif roll < 0.8:
            commands.append(("SREM", f"{prefix}:s:{tag}", str(rng.randrange(50))))
        elif roll < 0.9:
            commands.append(("DEL", f"{prefix}:s:{tag}", f"{prefix}:l:{tag}"))
        elif roll < 0.95:
            commands.append(("SET", f"{prefix}:l:{tag}", f"c:{rng.randrange(9)}"))
        else:
            commands.append(("HSET", f"{prefix}:d:{tag}", "email", f"{rng.randrange(9)}@example.com"))
    return commands


async def state(redis: AsyncRedis, prefix: str) -> dict[str, object]:
    found: dict[str, object] = {}
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        kind = await redis.type(key)
        name = key.split(":", 2)[2]  # without the prefix
        if kind == "set":
            found[name] = await redis.smembers(key)
        elif kind == "string":
            found[name] = await redis.get(key)
        else:
            found[name] = await redis.hgetall(key)
    return found


async def by_pipeline(redis: AsyncRedis, commands: list[tuple[str, ...]]) -> None:
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    await pipe.execute()


async def test_bulk_leaves_what_a_pipeline_leaves(redis: AsyncRedis, settings: Settings) -> None:
    fast, slow = f"{settings.redis_prefix}:fast", f"{settings.redis_prefix}:slow"
    await bulk.execute(redis, mixed_commands(fast, 20_000))
    await by_pipeline(redis, mixed_commands(slow, 20_000))
    fast_state, slow_state = await state(redis, fast), await state(redis, slow)
    assert len(fast_state) > 250
    assert fast_state == slow_state


async def test_the_unit_tests_memory_redis_leaves_what_redis_leaves(redis: AsyncRedis, settings: Settings) -> None:
    """The in-memory model the stage unit tests compare (pipeline.stream.memory) is Redis for these commands."""
    prefix = f"{settings.redis_prefix}:model"
    commands = mixed_commands(prefix, 5_000, seed=3)
    await bulk.execute(redis, commands)
    model = MemoryRedis()
    for command in commands:
        model.apply(command)
    assert len(model.data) > 250
    assert await state(redis, prefix) == {key.split(":", 2)[2]: value for key, value in model.data.items()}


async def test_the_writer_reads_each_subjects_groups_in_one_pipeline(redis: AsyncRedis, settings: Settings) -> None:
    keys = KeySpace(settings.redis_prefix)
    writer = MembershipWriter(redis, keys)
    subjects = [f"c:{n}" for n in range(40)] + ["v:ck1"]  # many slots: several nodes on a cluster
    writer.stage_commands([("SADD", keys.subject(s), *[str(g) for g in range(n % 4)]) for n, s in enumerate(subjects)
                           if n % 4])
    await writer.flush()
    assert await writer.groups_of(subjects) == {s: {str(g) for g in range(n % 4)} for n, s in enumerate(subjects)}


async def test_the_fast_path_is_in_use(redis: AsyncRedis) -> None:
    """A redis-py upgrade that takes the connection's reader away must show here, not as a slow bench."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_primaries()[0]
        connection = node.acquire_connection()
        node.release(connection)
    else:
        connection = await redis.connection_pool.get_connection()
        await redis.connection_pool.release(connection)
    assert bulk.can_stream(connection)


async def test_a_refusal_raises_and_the_connection_stays_usable(redis: AsyncRedis, settings: Settings) -> None:
    prefix = settings.redis_prefix
    await redis.set(f"{prefix}:x:{{a}}", "a string")
    commands = [("SADD", f"{prefix}:s:{{b}}", "1"), ("SADD", f"{prefix}:x:{{a}}", "1"),
                ("SADD", f"{prefix}:s:{{c}}", "2")]
    with pytest.raises(bulk.BulkReplyError, match=r"WRONGTYPE.*'SADD' on '.*:x:\{a\}'"):
        await bulk.execute(redis, commands)
    assert await redis.smembers(f"{prefix}:s:{{c}}") == {"2"}  # the rest of the batch ran
    for _ in range(5):  # every pooled connection is in step
        await bulk.execute(redis, [("SADD", f"{prefix}:s:{{d}}", "3")])
        assert await redis.ping()
    assert await redis.smembers(f"{prefix}:s:{{d}}") == {"3"}


async def test_an_interrupted_write_leaves_no_connection_out_of_step(redis: AsyncRedis, settings: Settings) -> None:
    run, ref = f"{settings.redis_prefix}:run", f"{settings.redis_prefix}:ref"
    commands = mixed_commands(run, 200_000, seed=2)
    task = asyncio.ensure_future(bulk.execute(redis, commands))
    await asyncio.sleep(0.02)  # mid-way through writing or reading
    assert not task.done()
    task.cancel()
    # Usually the write is cancelled. Or it runs to its end: under load, a send that finishes just as
    # the cancellation comes lets Python 3.11's asyncio.wait_for (redis-py's send, with socket_timeout)
    # return its result and drop the cancellation (CPython gh-86296, fixed in 3.12; seen once in CI).
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # Either way:
    for _ in range(5):  # no pooled connection holds the cancelled batch's replies
        assert await redis.get(f"{run}:nothing") is None
    # the batch is sent again, as the writer's caller does, and the end state is right
    await bulk.execute(redis, commands)
    await by_pipeline(redis, mixed_commands(ref, 200_000, seed=2))
    assert await state(redis, run) == await state(redis, ref)


@pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)
async def test_a_moved_slot_is_followed(redis: RedisCluster, settings: Settings) -> None:
    await redis.initialize()
    key = f"{settings.redis_prefix}:s:{{moved}}"
    slot = redis.keyslot(key)
    owner = redis.nodes_manager.get_node_from_slot(slot)
    wrong = next(n for n in redis.get_primaries() if n.name != owner.name)
    redis.nodes_manager.slots_cache[slot] = [wrong]  # a stale layout: the slot is elsewhere now
    await bulk.execute(redis, [("SADD", key, "1"), ("SADD", key, "2")])
    assert await redis.smembers(key) == {"1", "2"}


@pytest.mark.parametrize("redis_kind", ["cluster"], indirect=True)
async def test_an_unreachable_node_hands_its_share_to_redis_py(redis: RedisCluster, settings: Settings) -> None:
    """A master that failed over: the stale layout names a node nobody answers on."""
    from redis.asyncio.cluster import ClusterNode

    await redis.initialize()
    key = f"{settings.redis_prefix}:s:{{gone}}"
    gone = ClusterNode("127.0.0.1", 1, server_type="primary")  # nothing listens on port 1
    redis.nodes_manager.slots_cache[redis.keyslot(key)] = [gone]
    await bulk.execute(redis, [("SADD", key, "1")])
    assert await redis.smembers(key) == {"1"}
