"""Sending thousands of small commands in one round trip per Redis node, at the cost of the bytes.

A batch of membership writes is tens of thousands of small, idempotent commands
(SADD, SREM, DEL, SET, HSET: see :mod:`pipeline.store.writer`), and a back-fill
of a million profiles is millions of them. redis-py's asyncio pipeline spends
about 10 µs of Python per command, most of it in one coroutine per reply
(``parse_response``), which made a 1M-profile back-fill wait 55 s on its client,
not on Redis. Here a batch is packed with hiredis (``hiredis.pack_command``), written
to one connection in one go, and the replies are counted off the socket by a
``hiredis.Reader`` fed whole reads (200,000 SADDs on the bench machine: 10.2 µs each
through redis-py's pipeline, 1.6 µs this way, Redis's own time included).

What it reaches into, and why that is safe: a redis-py asyncio ``Connection``'s
``_reader`` (the ``asyncio.StreamReader`` every redis-py 5–8 connection reads from;
redis-py is pinned in ``constraints.txt``). The connection is taken from the
client's own pool (``ConnectionPool.get_connection`` for one Redis,
``ClusterNode.acquire_connection`` on a cluster), so AUTH, SELECT, TLS and the
client's timeouts are redis-py's; a connection that fails or is interrupted
mid-reply is disconnected before it goes back, so no half-read reply is ever
seen by the next user. Where the reach is not possible (a connection class
without ``_reader``, which ``tests/integration/test_bulk_write.py`` reports) the
batch goes through redis-py's pipeline: slower, the same effect.

On a cluster, commands are grouped by the master of their key's slot (every key
carries a hash tag, so a multi-key command keeps to one slot), in their order per
node, which keeps the order per key; the nodes are written concurrently. A node
that answers MOVED or ASK (slots migrating) gets its whole share again through
redis-py's cluster pipeline, which follows redirections; so does a node that
cannot be reached (a master failed over: redis-py re-reads the layout, and raises
if the cluster is still unavailable, for the caller to retry). Every command is
idempotent and the share is re-sent in order, so the end state is as if sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis  # a pinned dependency (redis[hiredis]), which redis-py's parser uses too
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from pipeline.store.connection import AsyncRedis

Command = tuple[Any, ...]  # ("SADD", key, member, ...): str, bytes or int arguments
READ_SIZE = 1 << 16
_REDIRECTS = ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN")


class BulkReplyError(ResponseError):
    """Redis refused a command of a bulk write (the first refusal; the rest of the batch ran)."""

    def __init__(self, command: Command, reply: Exception) -> None:
        super().__init__(f"{reply} (command {command[0]!r} on {command[1]!r})" if len(command) > 1 else str(reply))
        self.command = command
        self.reply = reply


def pack(commands: Sequence[Command]) -> bytes:
    """The RESP bytes of ``commands``, in order (hiredis packs each one)."""
    return b"".join(map(hiredis.pack_command, commands))


def can_stream(connection: AbstractConnection) -> bool:
    return hasattr(connection, "_reader")


async def _read_replies(connection: AbstractConnection, count: int) -> list[object]:
    """``count`` replies off ``connection`` (errors are returned as exceptions, not raised)."""
    reader = hiredis.Reader()
    replies: list[object] = []
    timeout = connection.socket_timeout
    while len(replies) < count:
        stream = connection._reader  # noqa: SLF001 - see the module docstring
        if stream is None:
            raise RedisConnectionError("the Redis connection closed during a bulk write")
        async with asyncio.timeout(timeout):
            data = await stream.read(READ_SIZE)
        if not data:
            raise RedisConnectionError("Redis closed the connection during a bulk write")
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            replies.append(reply)
    if len(replies) != count:
        raise RedisConnectionError(f"{len(replies)} replies to {count} commands: the connection is out of step")
    return replies


async def _stream(connection: AbstractConnection, commands: Sequence[Command]) -> list[object]:
    """Write ``commands`` and read their replies; a connection left mid-way is disconnected."""
    try:
        await connection.send_packed_command(pack(commands), check_health=False)
        return await _read_replies(connection, len(commands))
    except BaseException:
        await connection.disconnect()
        raise


def _first_error(commands: Sequence[Command], replies: list[object]) -> BulkReplyError | None:
    for command, reply in zip(commands, replies, strict=True):
        if isinstance(reply, Exception):
            return BulkReplyError(command, reply)
    return None


async def _pipelined(redis: AsyncRedis, commands: Sequence[Command]) -> None:
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    await pipe.execute()


async def _single(redis: Redis, commands: Sequence[Command]) -> None:
    pool = redis.connection_pool
    connection = await pool.get_connection()
    try:
        if not can_stream(connection):
            await _pipelined(redis, commands)
            return
        replies = await _stream(connection, commands)
    finally:
        await pool.release(connection)
    if (error := _first_error(commands, replies)) is not None:
        raise error


async def _node(redis: RedisCluster, node: Any, commands: list[Command]) -> None:
    connection = node.acquire_connection()
    replies = None
    try:
        if can_stream(connection):
            replies = await _stream(connection, commands)
    except (OSError, TimeoutError, RedisConnectionError):
        replies = None  # the node is gone (a failover?): redis-py's pipeline re-reads the layout
    finally:
        node.release(connection)
    if replies is None:
        await _pipelined(redis, commands)
        return
    error = _first_error(commands, replies)
    if error is not None:
        if str(error.reply).startswith(_REDIRECTS):
            await _pipelined(redis, commands)  # slots moved: redis-py follows the redirections
            return
        raise error


async def _cluster(redis: RedisCluster, commands: Sequence[Command]) -> None:
    await redis.initialize()  # the cluster's layout, read once (a no-op after the first command)
    by_node: dict[str, tuple[Any, list[Command]]] = {}
    for command in commands:
        node = redis.nodes_manager.get_node_from_slot(redis.keyslot(command[1]))
        by_node.setdefault(node.name, (node, []))[1].append(command)
    await asyncio.gather(*(_node(redis, node, share) for node, share in by_node.values()))


async def execute(redis: AsyncRedis, commands: Sequence[Command]) -> None:
    """Run ``commands`` (each with its key as first argument) in order per key; raise on a refusal.

    All or part of the batch may have run when this raises: the commands are idempotent
    and the caller sends the whole batch again.
    """
    if not commands:
        return
    if isinstance(redis, RedisCluster):
        await _cluster(redis, commands)
    else:
        await _single(redis, commands)
