"""Where the stages send messages: the re-keying topics, the dead-letter topic, and a flush.

Each send returns an awaitable that completes when the broker has the message
(``delivered`` waits for a batch of them); :meth:`Sinks.flush` returns once
everything sent so far, table changelogs included, is in Kafka. The worker's
:class:`FaustSinks` writes Faust topics; :class:`MemorySinks` records what was
sent, for the stage unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.stream.partitioning import SubjectPartitioner


class Sinks(Protocol):
    async def to_subject(self, subject: str, value: bytes) -> Awaitable[Any]:
        """On the re-keying topic, to the partition that owns ``subject`` (the profile stage)."""
        ...

    async def to_partition(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        """A control message to one partition of the profile stage (sync, reconcile)."""
        ...

    async def to_visitor(self, visitor: str, value: bytes) -> Awaitable[Any]:
        """Re-keyed by cookie, to the identity stage."""
        ...

    async def dead_letter(self, key: bytes | None, value: bytes) -> Awaitable[Any]: ...

    async def flush(self) -> None:
        """Return once every message sent so far (table changelogs too) is acknowledged."""
        ...


class FaustSinks:
    """The worker's topics. Sends use ``force=True``: a stage waits for delivery inside its own
    batch, and Faust would otherwise hold the message until the batch is acknowledged."""

    def __init__(self, by_subject: Any, by_visitor: Any, dead_letters: Any,
                 partitioner: SubjectPartitioner, flush: Callable[[], Awaitable[None]]) -> None:
        self.by_subject, self.by_visitor, self.dead_letters = by_subject, by_visitor, dead_letters
        self.partitioner = partitioner
        self._flush = flush

    async def to_subject(self, subject: str, value: bytes) -> Awaitable[Any]:
        return await self.by_subject.send(key=subject.encode(), value=value, force=True,
                                          partition=self.partitioner.of_subject(subject))

    async def to_partition(self, partition: int, key: bytes, value: bytes) -> Awaitable[Any]:
        return await self.by_subject.send(key=key, value=value, force=True,
                                          partition=partition)

    async def to_visitor(self, visitor: str, value: bytes) -> Awaitable[Any]:
        return await self.by_visitor.send(key=visitor.encode(), value=value,
                                          force=True)

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
    """Records every message; a send fails while ``failing`` is set (to test retries)."""

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

    async def to_visitor(self, visitor: str, value: bytes) -> Awaitable[Any]:
        return await self._send("visitor", visitor, value)

    async def dead_letter(self, key: bytes | None, value: bytes) -> Awaitable[Any]:
        return await self._send("dead-letter", key, value)

    async def flush(self) -> None:
        self.flushes += 1
