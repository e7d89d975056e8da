"""Reading a group's members and their details from Redis without blocking it.

Redis serves every page view, so the exporter only uses commands that do a
bounded amount of work each: SCARD, SSCAN (``COUNT 1000``) and HMGET. Never
SMEMBERS or KEYS, which walk a whole set or keyspace in one go.

Details are fetched 1,000 customers per round trip. The commands are packed
as RESP here and sent over one connection, with the next chunk sent before
the previous chunk's replies are parsed, so Redis works while Python parses:
for a million HMGETs that is about twice as fast as redis-py's ``Pipeline``,
whose per-command bookkeeping dominates at this size (measured in
tests/integration/test_export.py).

On a Redis Cluster each customer's details key lives in its own slot, so one
connection cannot take them all: there a chunk is one cluster pipeline, which
redis-py splits per node, writing to every node before reading any reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import cast

from redis import Redis
from redis.connection import ConnectionInterface

from pipeline.settings import Settings
from pipeline.store.connection import SyncRedis, connect_sync
from pipeline.store.keys import KeySpace

SCAN_COUNT = 1000
CHUNK = 1000

Values = list[str | None]


def connect(settings: Settings) -> SyncRedis:
    """A client for the exporter (one Redis or a cluster, by ``CG_REDIS_URL``'s scheme):
    text replies (bad bytes replaced, never fatal) and timeouts."""
    return connect_sync(settings.redis_url, decode_responses=True, encoding_errors="replace",
                        socket_timeout=60, socket_connect_timeout=10)


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


class MemberSource:
    """One group's customer IDs (SSCAN) and per-customer details (HMGET), streamed.

    The client must decode replies (``decode_responses=True``, see :func:`connect`).
    """

    def __init__(self, redis: SyncRedis, keys: KeySpace, scan_count: int = SCAN_COUNT,
                 chunk: int = CHUNK) -> None:
        self.redis = redis
        self.keys = keys
        self.scan_count = scan_count
        self.chunk = chunk

    def counts(self, group_id: str) -> tuple[int, int]:
        """(registered members, anonymous guests): one round trip, one slot."""
        customers, guests = self.keys.member_keys(group_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.scard(customers)
        pipe.scard(guests)
        n_customers, n_guests = pipe.execute()
        return int(n_customers), int(n_guests)

    def scan(self, group_id: str) -> Iterator[list[str]]:
        """The group's customer IDs, a chunk per SSCAN call (an ID may repeat)."""
        key = self.keys.members(group_id, anonymous=False)
        cursor = 0
        while True:
            cursor, found = self.redis.sscan(key, cursor, count=self.scan_count)
            if found:
                yield cast("list[str]", found)  # the client decodes replies (connect)
            if int(cursor) == 0:
                return

    def details(self, customer_ids: Iterable[str],
                fields: Sequence[str]) -> Iterator[tuple[list[str], list[Values]]]:
        """Chunks of ``(customer IDs, [[value of each field or None], ...])``, in the order given."""
        if not isinstance(self.redis, Redis):
            yield from self._details_by_pipeline(customer_ids, fields)
            return
        head = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(fields))
        tail = b"".join(_bulk(f.encode()) for f in fields)
        ids = iter(customer_ids)
        pool = self.redis.connection_pool
        conn = pool.get_connection()
        clean = False
        try:
            in_flight = self._send(conn, list(islice(ids, self.chunk)), head, tail)
            while in_flight:
                following = self._send(conn, list(islice(ids, self.chunk)), head, tail)
                yield in_flight, [conn.read_response() for _ in in_flight]
                in_flight = following
            clean = True
        finally:
            if not clean:
                conn.disconnect()  # replies may still be pending: never reuse the connection
            pool.release(conn)

    def _details_by_pipeline(self, customer_ids: Iterable[str],
                             fields: Sequence[str]) -> Iterator[tuple[list[str], list[Values]]]:
        """:meth:`details` on a cluster: a chunk's HMGETs in one pipeline, split per node by redis-py."""
        ids = iter(customer_ids)
        while chunk := list(islice(ids, self.chunk)):
            pipe = self.redis.pipeline(transaction=False)
            for cid in chunk:
                pipe.hmget(self.keys.details(f"c:{cid}"), list(fields))
            yield chunk, pipe.execute()

    def _send(self, conn: ConnectionInterface, chunk: list[str], head: bytes, tail: bytes) -> list[str]:
        if chunk:
            details = self.keys.details
            payload = b"".join(head + _bulk(details(f"c:{cid}").encode()) + tail for cid in chunk)
            conn.send_packed_command([payload])
        return chunk
