"""Where the stages send messages: the re-keying topics, the dead-letter topic, and a flush.

Each send returns an awaitable that completes when the broker has the message
(``delivered`` waits for a batch of them); :meth:`Sinks.flush` returns once
everything sent so far, table changelogs included, is in Kafka. The worker's
:class:`FaustSinks` writes Faust topics; :class:`MemorySinks` records what was
sent, for the stage unit tests.

A batch's messages for other partitions go out as one record per destination
partition (:meth:`Sinks.to_subjects`, :meth:`Sinks.to_visitors`): Faust's cost
is per record, so a stage never sends one record per event. A partition with
one message gets a plain record, keyed as ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.stream.envelope import encode_bundle, entries_of
from pipeline.stream.partitioning import SubjectPartitioner


def by_partition(entries: Sequence[tuple[str, bytes]], partition_of: Callable[[str], int],
                 ) -> dict[int, list[tuple[str, bytes]]]:
    """The entries grouped by destination partition, each group in the order given."""
    groups: dict[int, list[tuple[str, bytes]]] = {}
    for key, value in entries:
        groups.setdefault(partition_of(key), []).append((key, value))
    return groups


#: The most bytes of messages one bundle carries: what one forwarded event may be, so a bundle
#: always fits the re-keying topics (``pipeline.topics.internal_topic_max_bytes``).
BUNDLE_BYTES = 1_048_576


def records_for(entries: list[tuple[str, bytes]], limit: int = BUNDLE_BYTES) -> list[tuple[bytes, bytes]]:
    """(key, value) of the records that carry ``entries`` to their partition, in order: one
    bundle while they fit in ``limit`` bytes, more when not; a lone message is a plain record."""
    chunks: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for key, value in entries:
        need = len(key.encode()) + len(value) + 8
        if chunks[-1] and size + need > limit:
            chunks.append([])
            size = 0
        chunks[-1].append((key, value))
        size += need
    return [(chunk[0][0].encode(), chunk[0][1]) if len(chunk) == 1 else (b"__bundle__", encode_bundle(chunk))
            for chunk in chunks if chunk]


class Sinks(Protocol):
    async def to_subject(self, subject: str, value: bytes) -> Awaitable[Any]:
        """On the re-keying topic, to the partition that owns ``subject`` (the profile stage)."""
        ...

    async def to_partition(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        """A control message to one partition of the profile stage (sync, reconcile)."""
        ...

    async def to_subjects(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        """(subject, message) pairs, one record per destination partition of the profile stage."""
        ...

    async def to_visitors(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        """(cookie, message) pairs, one record per destination partition of the identity stage."""
        ...

    async def dead_letter(self, key: bytes | None, value: bytes) -> Awaitable[Any]: ...

    async def flush(self) -> None:
        """Return once every message sent so far (table changelogs too) is acknowledged."""
        ...


class FaustSinks:
    """The worker's topics. Sends use ``force=True``: a stage waits for delivery inside its own
    batch, and Faust would otherwise hold the message until the batch is acknowledged."""

    def __init__(self, by_subject: Any, by_visitor: Any, dead_letters: Any,
                 partitioner: SubjectPartitioner, flush: Callable[[], Awaitable[None]],
                 bundle_bytes: int = BUNDLE_BYTES) -> None:
        self.by_subject, self.by_visitor, self.dead_letters = by_subject, by_visitor, dead_letters
        self.partitioner = partitioner
        self._flush = flush
        self.bundle_bytes = bundle_bytes

    async def to_subject(self, subject: str, value: bytes) -> Awaitable[Any]:
        return await self.by_subject.send(key=subject.encode(), value=value, force=True,
                                          partition=self.partitioner.of_subject(subject))

    async def to_partition(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        return await self.by_subject.send(key=key, value=value, force=True,
                                          partition=partition)

    async def to_subjects(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        sent = []
        for partition, group in by_partition(entries, self.partitioner.of_subject).items():
            for key, value in records_for(group, self.bundle_bytes):
                sent.append(await self.by_subject.send(key=key, value=value, force=True, partition=partition))
        return sent

    async def to_visitors(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        sent = []
        for partition, group in by_partition(entries, lambda v: self.partitioner.of_key(v.encode())).items():
            for key, value in records_for(group, self.bundle_bytes):
                sent.append(await self.by_visitor.send(key=key, value=value, force=True, partition=partition))
        return sent

    async def dead_letter(self, key: bytes | None, value: bytes) -> Awaitable[Any]:
        return await self.dead_letters.send(key=key, value=value, force=True)

    async def flush(self) -> None:
        await self._flush()


@dataclass
class Sent:
    topic: str  # "subject", "partition", "visitor" or "dead-letter"
    key: str | bytes | int | None
    value: bytes


@dataclass
class MemorySinks:
    """Records every record sent; a send fails while ``failing`` is set (to test retries).

    ``sent`` holds the records as sent (a bundle is one record, keyed by its
    partition); :meth:`messages` the messages they carry, keyed by subject or cookie.
    """

    partition_of: Callable[[str], int] = field(default=lambda subject: 0)
    bundle_bytes: int = BUNDLE_BYTES
    sent: list[Sent] = field(default_factory=list)
    flushes: int = 0
    failing: BaseException | None = None

    async def _send(self, topic: str, key: str | bytes | int | None, value: bytes) -> Awaitable[Any]:
        if self.failing is not None:
            raise self.failing
        self.sent.append(Sent(topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def to_subject(self, subject: str, value: bytes) -> Awaitable[Any]:
        return await self._send("subject", subject, value)

    async def to_partition(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        return await self._send("partition", partition, value)

    async def to_subjects(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        return [await self._send("subject", key.decode(), value)
                for group in by_partition(entries, self.partition_of).values()
                for key, value in records_for(group, self.bundle_bytes)]

    async def to_visitors(self, entries: Sequence[tuple[str, bytes]]) -> list[Awaitable[Any]]:
        return [await self._send("visitor", key.decode(), value)
                for group in by_partition(entries, lambda v: self.partition_of(f"v:{v}")).values()
                for key, value in records_for(group, self.bundle_bytes)]

    async def dead_letter(self, key: bytes | None, value: bytes) -> Awaitable[Any]:
        return await self._send("dead-letter", key, value)

    def messages(self) -> list[Sent]:
        """Every message sent, a bundle's one by one (keyed by subject or cookie)."""
        out = []
        for record in self.sent:
            key = record.key.encode() if isinstance(record.key, str) else None
            out += [Sent(record.topic, k, v) for k, v in entries_of(key, record.value)] \
                if record.topic in ("subject", "visitor") else [record]
        return out

    async def flush(self) -> None:
        self.flushes += 1
