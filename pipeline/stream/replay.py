"""Input a previous owner may have processed: its subjects' Redis keys are rewritten whole.

A batch writes Redis first and its table last (:mod:`pipeline.stream.profile_batch`),
so a worker that dies between the two (SIGKILL, a changelog record Kafka refused,
a failover) leaves Redis *ahead* of the table the next owner rebuilds from the
changelog. The next owner reads the uncommitted input again, but the writes it
stages are changes (SADD what a subject joined, SREM what it left) against the
profile it loaded, which is older than what Redis shows. They repair Redis only
when the replay decides the same changes in the same steps, and batches begin and
end elsewhere on a replay. Found by ``tests/integration/test_send_lost.py`` in CI:
the crashed batch's order took a customer's average spend under £500 (SREM of
group 22 in Redis, its table write refused); the restarted worker folded that
order and a later one in one batch, from a stored profile in group 22 to a
profile in group 22: no change to write, and Redis kept the customer out of it.

So after every assignment (:meth:`ReplayWindow.open`) a record that a previous
owner may have written Redis for is *covered*: the batch rewrites its subject's
keys whole (groups, member sets, details, mirrored cookies) and removes the
groups Redis shows beyond them. Which records is bounded twice:

* the partition's **end offset** at assignment: nobody processed a record that
  was not yet in the log;
* the partition's **mark** in Redis (:meth:`KeySpace.replay_mark`): before a
  batch writes Redis for records at or past the mark, the mark is moved
  :data:`MARK_AHEAD` records beyond them, in a round trip of its own. Redis can
  hold no effect of a record at or past its mark. It costs one extra round trip
  per partition every :data:`MARK_AHEAD` records (0.2 ms per 1,000 records),
  and bounds the records rewritten whole after a crash to those the previous
  owner processed past its last commit, plus at most :data:`MARK_AHEAD` per
  partition: a worker restarted over a long backlog writes changes again soon.

With no mark, a partition whose sentinel is there (data written by a version
before marks) is covered to its end offset; one whose sentinel is gone is a first
start or a Redis that lost its data, which the sentinel check rebuilds from the
table whole (:meth:`~pipeline.stream.maintenance.Maintenance.check_redis_at_recovery`):
nothing is covered, and a first start over a backlog writes changes only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace

#: How far past the records it is about to write a batch moves a partition's mark.
MARK_AHEAD = 1_000

#: The end offset of a partition whose end Kafka did not tell: every record is covered.
REPLAY_EVERYTHING = 2**63 - 1

TopicPartition = tuple[str, int]  # Faust's TP is a named tuple of these: equal and hashed alike


class ReplayWindow:
    """Per input partition: below which offset records are covered (``ends``), and the mark Redis
    holds (``marks``: no Redis write of a record at or past it)."""

    def __init__(self) -> None:
        self.ends: dict[TopicPartition, int] = {}
        self.marks: dict[TopicPartition, int] = {}

    def open(self, ends: Mapping[TopicPartition, int], marks: Mapping[TopicPartition, int] | None = None) -> None:
        """Records below ``ends[tp]`` may have been processed by a previous owner; ``marks`` as read
        from Redis (absent: 0, so the first batch writes one)."""
        self.ends = {tp: end for tp, end in ends.items() if end > 0}
        self.marks = dict(marks or {})

    def close(self) -> None:
        """Partitions revoked: the next assignment opens the window again and re-reads the marks."""
        self.ends = {}
        self.marks = {}

    def covers(self, message: Any) -> bool:
        """Is ``message`` (a Faust ``Message``: topic, partition, offset) possibly processed before?"""
        end = self.ends.get((message.topic, message.partition))
        return end is not None and message.offset < end

    def passed(self, tps: Iterable[TopicPartition]) -> None:
        """A batch that read records of ``tps`` at or past their ends is done: those partitions leave
        the window (records reach a stream in offset order), so a worker caught up pays one
        empty-dict test per message. Not before the batch is done: a retried batch reads its
        covered records again."""
        for tp in tps:
            self.ends.pop(tp, None)

    def unmarked(self, reached: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The marks to write before a batch that reached ``reached[tp]`` (its highest offset) writes Redis."""
        marks = self.marks
        return {tp: top + 1 + MARK_AHEAD for tp, top in reached.items() if top >= marks.get(tp, 0)}


def bounds(ends: Mapping[TopicPartition, int], marks: Mapping[TopicPartition, int],
           sentinels: Mapping[int, bool]) -> dict[TopicPartition, int]:
    """Where each partition's window ends: its end offset at assignment, or its mark if lower; with
    no mark, the end offset while the partition's sentinel says Redis kept its data, else nothing."""
    out = {}
    for tp, end in ends.items():
        mark = marks.get(tp)
        out[tp] = min(end, mark) if mark is not None else end if sentinels.get(tp[1], True) else 0
    return out


async def read_marks(redis: AsyncRedis, keys: KeySpace, tps: Sequence[TopicPartition],
                     ) -> tuple[dict[TopicPartition, int], dict[int, bool]]:
    """Each partition's replay mark in Redis (absent: not in the answer), and whether the sentinel
    of each partition number is there; one round trip per node."""
    partitions = sorted({partition for _, partition in tps})
    pipe = redis.pipeline(transaction=False)
    for topic, partition in tps:
        pipe.get(keys.replay_mark(topic, partition))
    for partition in partitions:
        pipe.exists(keys.sentinel(partition))
    found = await pipe.execute()
    marks = {(t, p): int(value) for (t, p), value in zip(tps, found[:len(tps)], strict=True) if value is not None}
    return marks, {p: bool(n) for p, n in zip(partitions, found[len(tps):], strict=True)}
