"""Re-reading what Faust's consumer dropped: the consumer overrides that keep a partition's
records in order and never commit past one that was not processed.

Why each exists, the upstream code it replaces and what goes wrong there:
:mod:`pipeline.stream.faust_compat` ("Re-read what a fetch dropped", "No commit
through a gap", "Nothing handed on while the app rebalances", "Seeks that stick").
:func:`pipeline.stream.faust_compat.install_overrides` installs them.

State kept on the consumer (``self.__dict__``, per partition):

* ``_cg_tracked``: (the read offset we left, the next offset due). Faust's
  ``_read_offset`` holds the last offset handed on, or after a seek the next
  one to read; this tells the two apart (:func:`next_due`).
* ``_cg_rewind``: where the next fetch must read from again (a gap Faust saw).
* ``_cg_holes``: (the commit base, since when) of a partition whose commits
  wait for an offset never acknowledged; read again after :data:`HOLE_SECONDS`.
* ``_cg_log_start``: where a partition with nothing committed begins.
* ``_cg_gone``: the offset due of a partition whose records up to the log start
  retention deleted (asked of the broker once, not at every fetch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka.errors import IllegalStateError
from faust.transport.consumer import Consumer
from faust.utils.functional import consecutive_numbers

log = logging.getLogger(__name__)
UPSTREAM_ADD_GAP = Consumer._add_gap
UPSTREAM_GETMANY = Consumer.getmany
UPSTREAM_PERFORM_SEEK = Consumer.perform_seek
#: How long an unacknowledged offset may block commits before it is read again.
HOLE_SECONDS = 10.0
#: Called with (topic, partition, first, last) for every gap the consumer saw (metrics, health).
gap_listeners: list[Callable[[str, int, int, int], None]] = []


def _kept(consumer: Any, name: str) -> dict[Any, Any]:
    state: dict[Any, Any] = consumer.__dict__.setdefault(name, {})
    return state


def commit_base(consumer: Any, tp: Any) -> int | None:
    """The offset the partition's next commit must cover first: its committed offset, or before
    the first commit its log start (None: not known yet, :func:`getmany_rewinding` asks)."""
    committed: int | None = consumer._committed_offset.get(tp)
    if committed is None:  # nothing committed (Faust keeps offset 0 as None too)
        committed = consumer.__dict__.get("_cg_log_start", {}).get(tp)
    return committed


def next_due(consumer: Any, tp: Any) -> int | None:
    """The offset the partition must hand on next (None: no record handed on or sought yet)."""
    read = consumer._read_offset.get(tp)
    if read is None:
        return None
    known = consumer.__dict__.get("_cg_tracked", {}).get(tp)
    return int(known[1]) if known is not None and known[0] == read else int(read)


async def _seek_applied(consumer: Any, tp: Any, offset: int) -> None:
    """Seek in the consumer's own thread and wait for it (Faust's ``seek`` calls aiokafka from the
    event loop's thread while the consumer thread may be draining a fetch of that partition), and
    note the offset as the next one due."""
    try:
        await consumer.seek_wait({tp: offset})
    except IllegalStateError:  # revoked meanwhile: its new owner reads from the committed offset
        log.info("%s[%d]: not sought back to %d: no longer assigned", tp.topic, tp.partition, offset)
        return
    consumer._read_offset[tp] = offset if offset else None  # as Faust's seek
    if offset:
        _kept(consumer, "_cg_tracked")[tp] = (offset, offset)
    else:
        _kept(consumer, "_cg_tracked").pop(tp, None)


async def add_gap_never_as_processed(self: Consumer, tp: Any, offset_from: int, offset_to: int) -> None:
    """``Consumer._add_gap`` that records only gaps :func:`getmany_rewinding` found to be real:
    skipped offsets are never committed as processed."""
    real = self.__dict__.get("_cg_real_gaps", set())
    if (tp, offset_from) in real:
        real.difference_update({(tp, offset_from), (tp, offset_from - 1), (tp, offset_from + 1)})
        await UPSTREAM_ADD_GAP(self, tp, offset_from, offset_to)
        return
    log.warning("%s[%d]: the consumer skipped offsets %d-%d without handing them to a stream; they are "
                "not committed as processed and will be read again", tp.topic, tp.partition, offset_from,
                offset_to)
    for listener in gap_listeners:
        listener(tp.topic, tp.partition, offset_from, offset_to)
    # Read them again: the next getmany seeks back (not now: _drain_messages is about to set
    # the read offset to the record after the gap, which would make it drop the re-read ones).
    # From the offset due, not the one after the read offset: after a seek that is the next to read.
    due = next_due(self, tp)
    first = offset_from if due is None else min(due, offset_from)
    pending = _kept(self, "_cg_rewind")
    pending[tp] = min(first, pending.get(tp, first))


async def perform_seek_tracked(self: Consumer) -> None:
    """``Consumer.perform_seek`` (every partition to its committed offset, Faust's recovery) that
    also notes each committed offset as the next one due and drops the re-reads it supersedes
    (they lie at or after the committed offset: a later seek to one would skip the records before it).

    Upstream seeks only partitions that have a committed offset (aiokafka's
    ``seek_to_committed`` skips the others), so a partition with nothing committed stays
    wherever the last fetch left it: past records fetched during the rebalance and never
    handed on. Such a partition of an acknowledged topic is read again from its log start,
    what its committed position means."""
    await UPSTREAM_PERFORM_SEEK(self)
    tracked, pending = _kept(self, "_cg_tracked"), _kept(self, "_cg_rewind")
    acks_enabled_for = self.app.topics.acks_enabled_for
    for tp in self.assignment():
        pending.pop(tp, None)
        read = self._read_offset.get(tp)
        if read is None:
            tracked.pop(tp, None)
            start = commit_base(self, tp)
            if start is not None and acks_enabled_for(tp.topic):
                pending[tp] = start  # sought once the rebalance is over (_reread_due)
        else:
            tracked[tp] = (read, read)


def kafka_assignment(consumer: Any) -> Any:
    """aiokafka's assignment behind Faust's consumer (per-partition fetch state), or None before
    the consumer thread has one. Faust exposes no accessor; the stall dump reads it too."""
    kafka = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = getattr(getattr(kafka, "_subscription", None), "subscription", None)
    return None if subscription is None else subscription.assignment


def fetch_position(consumer: Any, tp: Any) -> int | None:
    """aiokafka's position of the partition: the next offset it will fetch (None: not known, or
    waiting for an offset reset). Read from the consumer thread's state without a call: between
    two ``getmany`` calls nothing else moves it but the seeks this module awaits."""
    assignment = kafka_assignment(consumer)
    if assignment is None:
        return None
    try:
        state = assignment.state_value(tp)
    except KeyError:  # not assigned (any more)
        return None
    position: int | None = vars(state).get("_position")
    return position


async def _note_dropped_fetches(self: Consumer) -> None:
    """Read again what was fetched and never handed on, even when no later record shows the jump.

    Between two ``getmany`` calls every record aiokafka returned has been handed on or
    dropped, so its position must equal the offset due next (before anything was handed on,
    the commit base). A position further on means Faust dropped fetched records: upstream
    ``getmany`` drops a whole fetch when the flow stops mid-fetch and the rest of a
    partition's fetch when its stream queue fills (``on_buffer_full`` takes it out of the
    active partitions while the fetch is being handed on). :func:`getmany_rewinding` finds
    such a jump at the next record; this finds it when the dropped records were the
    partition's last (found by the SIGKILL test: every ``events`` partition at its end, nothing
    handed on, lag 1,250 each, for good). Offsets gone from the log (retention) are let go."""
    acks_enabled_for = self.app.topics.acks_enabled_for
    pending = _kept(self, "_cg_rewind")
    checked = _kept(self, "_cg_gone")  # (tp) -> offset found below the log start: asked once
    suspects: dict[Any, int] = {}
    for tp in self.assignment():
        if tp in pending or not acks_enabled_for(tp.topic):
            continue
        position = fetch_position(self, tp)
        if position is None:
            continue
        due = next_due(self, tp)
        expected = due if due is not None else commit_base(self, tp)
        if expected is not None and position > expected and checked.get(tp) != expected:
            suspects[tp] = expected
    if not suspects:
        return
    starts = await self.earliest_offsets(*suspects)
    for tp, expected in suspects.items():
        start = starts.get(tp)
        if start is not None and start > expected:
            checked[tp] = expected  # retention took them: getmany_rewinding lets the jump through
            continue
        position = fetch_position(self, tp) or expected
        log.warning("%s[%d]: offsets %d-%d were fetched but never handed to a stream; reading them again",
                    tp.topic, tp.partition, expected, position - 1)
        for listener in gap_listeners:
            listener(tp.topic, tp.partition, expected, position - 1)
        pending[tp] = expected


async def _reread_due(self: Consumer) -> None:
    """Seek back what must be read again: holes long unacknowledged, gaps Faust saw."""
    pending = _kept(self, "_cg_rewind")
    holes = _kept(self, "_cg_holes")
    assigned = self.assignment()
    for tp, (base, since) in list(holes.items()):  # an offset never acknowledged: read it again
        if tp not in assigned or commit_base(self, tp) != base:
            del holes[tp]  # revoked (its new owner reads it) or committed since (a new hole is noted anew)
            continue
        if time.monotonic() - since >= HOLE_SECONDS:
            del holes[tp]
            log.warning("%s[%d]: offset %d was never acknowledged; reading from it again", tp.topic,
                        tp.partition, base)
            pending[tp] = min(base, pending.get(tp, base))
    for tp, first in list(pending.items()):
        del pending[tp]
        if tp in assigned:
            await _seek_applied(self, tp, first)


async def getmany_rewinding(self: Consumer, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """``Consumer.getmany`` that never hands a stream a record past one it skipped.

    For a topic whose offsets are acknowledged, the next record must be the one
    due (:func:`next_due`). A record further on means records in between were
    fetched and dropped: it is held back, the partition is sought back to the
    first missing offset, and the rest of this fetch for that partition is held
    back too; the next fetch reads them in order, however often Faust drops
    them again. The only jump let through is one the broker confirms: the
    missing offsets are below the partition's log start (retention deleted
    them), and Faust then records it as a gap, as upstream would.

    While the app rebalances nothing of such a topic is handed on (Faust's
    recovery ends by clearing the stream queues, ``flow_control.resume()``):
    the partition is read again from the offset due once the rebalance is over
    (the committed offset, when recovery's seek came before).
    """
    holding: set[Any] = set()
    tracked, pending = _kept(self, "_cg_tracked"), _kept(self, "_cg_rewind")
    log_start = _kept(self, "_cg_log_start")
    acks_enabled_for = self.app.topics.acks_enabled_for
    unknown = [tp for tp in self.assignment() if tp not in log_start and acks_enabled_for(tp.topic)]
    if unknown:  # where a partition with nothing committed begins (new_offset_no_hole needs it)
        log_start.update({tp: offset for tp, offset in (await self.earliest_offsets(*unknown)).items()
                          if offset is not None})
    if not self.app.rebalancing:  # recovery seeks every partition to its committed offset anyway
        await _note_dropped_fetches(self)
        await _reread_due(self)
    async for tp, message in UPSTREAM_GETMANY(self, timeout):
        if tp in holding:
            continue
        if not acks_enabled_for(tp.topic):
            yield tp, message
            continue
        if self.app.rebalancing:
            # Read again once the rebalance is over: from the offset due (recovery's seek, if still
            # to come, replaces this with the committed offset). Never left to a later record to
            # find the jump: there may be none.
            holding.add(tp)
            due = next_due(self, tp)
            first = message.offset if due is None else min(due, message.offset)
            pending[tp] = min(first, pending.get(tp, first))
            continue
        due = next_due(self, tp)
        offset = message.offset
        if due is not None and offset > due:
            start = (await self.earliest_offsets(tp)).get(tp)
            if start is None or start <= due:
                holding.add(tp)
                log.warning("%s[%d]: offsets %d-%d were fetched but not handed to a stream; reading them "
                            "again", tp.topic, tp.partition, due, offset - 1)
                for listener in gap_listeners:
                    listener(tp.topic, tp.partition, due, offset - 1)
                await _seek_applied(self, tp, due)
                continue
            log.warning("%s[%d]: offsets %d-%d are gone from the log (retention): going on from %d",
                        tp.topic, tp.partition, due, start - 1, offset)
            self.__dict__.setdefault("_cg_real_gaps", set()).update({(tp, due), (tp, due + 1)})
        tracked[tp] = (offset, offset + 1)  # _drain_messages sets _read_offset to it next
        yield tp, message


def new_offset_no_hole(self: Consumer, tp: Any) -> int | None:
    """``Consumer._new_offset`` that never commits past an offset that was not acknowledged.

    Upstream returns None only when the lowest acknowledged offset is more than
    one past the committed one (``min(acked) - committed > 1``), while the
    committed offset is the next one to consume: with ``committed = N`` and
    ``acked = [N+1, N+2]`` it commits N+3, past message N, which was never
    acknowledged (a record whose delivery a rebalance abandoned). With nothing
    committed yet it commits any run at all: acked ``[7, 8]`` commits 9, past
    offsets 0-6. Here the acknowledged run must start at the commit base
    (:func:`commit_base`); when it does not, the partition has a hole at that
    base, read again after :data:`HOLE_SECONDS` (a hole noted at another base,
    from before a commit or a rebalance, is replaced, never kept). Gaps are
    added as upstream (only real ones are recorded, :func:`add_gap_never_as_processed`).
    """
    acked = self._acked[tp]
    if not acked:
        return None
    gap_for_tp = self._gap[tp]
    if gap_for_tp:
        max_offset = max(acked)
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            filled = [o for entry in candidates for o in range(entry.begin, entry.end)]
            acked.extend(filled)
            gap_for_tp.chop(0, max(filled[-1], max_offset + 1))
    acked.sort()
    base = commit_base(self, tp)
    if base is None:
        return None  # not known yet: getmany_rewinding asks the broker before the next fetch
    holes = _kept(self, "_cg_holes")
    if acked[0] > base:
        if holes.get(tp, (None,))[0] != base:
            holes[tp] = (base, time.monotonic())
        return None
    holes.pop(tp, None)
    batch = next(consecutive_numbers(acked))
    acked[: len(batch)] = []
    self._acked_index[tp].difference_update(batch)
    return int(batch[-1]) + 1
