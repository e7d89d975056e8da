"""Which partition a subject lives on: the partition its bare ID hashes to.

A subject ``v:<cookie>`` lives on the partition Kafka's default partitioner
gives the cookie itself, and ``c:<id>`` on the one it gives the customer ID.
The storefront keys events by cookie (customer ID when there is no cookie), so
an anonymous visitor's event arrives on the very partition that owns the
visitor's profile: the ingest stage folds it on the spot, with no hop through
the re-keying topic. Faust co-partitions topics with the same partition count,
so one worker owns partition *p* of every topic and table.
"""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from pipeline.memo import Memo

_MEMO_LIMIT = 200_000  # keys remembered: about a day's visitors of a big shop


def bare_id(subject: str) -> str:
    """``v:abc`` → ``abc``; the ID the storefront keys its events with."""
    return subject[2:] if subject[1:2] == ":" else subject


class SubjectPartitioner:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self._all = list(range(partitions))
        self._default = DefaultPartitioner()
        self._known: Memo[bytes, int] = Memo(_MEMO_LIMIT)

    def of_key(self, key: bytes) -> int:
        """Kafka's default partitioner (murmur2, as the Java client and aiokafka).

        Called for every event and every hand-on, and aiokafka's murmur2 is pure
        Python (~5 µs): the answers are memoised in a bounded :class:`~pipeline.memo.Memo`.
        """
        known = self._known.get(key)
        if known is None:
            known = self._known.put(key, self._default(key, self._all, self._all))
        return known

    def of_subject(self, subject: str) -> int:
        return self.of_key(bare_id(subject).encode())
