"""The Faust overrides that need no broker (pipeline.stream.faust_compat)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from pipeline.stream import faust_compat, rewind


async def test_a_gap_is_reported_never_recorded_as_processed() -> None:
    consumer = SimpleNamespace(_gap=defaultdict(IntervalTree), _committed_offset=defaultdict(lambda: None),
                               _read_offset=defaultdict(lambda: None))
    # (the next getmany seeks back to it: see test_a_gap_seen_by_faust_is_read_again)
    seen: list[tuple[str, int, int, int]] = []
    rewind.gap_listeners.append(lambda *gap: seen.append(gap))
    try:
        tp = TP("cg.events", 3)
        await rewind.add_gap_never_as_processed(consumer, tp, 7075, 12427)  # type: ignore[arg-type]
        assert seen == [("cg.events", 3, 7075, 12427)]
        assert not consumer._gap  # nothing Faust's _new_offset would commit through  # noqa: SLF001
        # what upstream does with the same call: the skipped offsets become committable
        await rewind.UPSTREAM_ADD_GAP(consumer, tp, 7075, 12427)  # type: ignore[arg-type]
        assert consumer._gap[tp]  # noqa: SLF001
    finally:
        rewind.gap_listeners.clear()


async def test_a_gap_found_real_by_the_rewind_is_recorded_as_upstream_does() -> None:
    tp = TP("cg.events", 1)
    consumer = SimpleNamespace(_gap=defaultdict(IntervalTree), _committed_offset=defaultdict(lambda: None),
                               _read_offset=defaultdict(lambda: None), _cg_real_gaps={(tp, 10)})
    await rewind.add_gap_never_as_processed(consumer, tp, 10, 20)  # type: ignore[arg-type]
    assert consumer._gap[tp] and not consumer._cg_real_gaps  # noqa: SLF001


class _Topics:
    @staticmethod
    def acks_enabled_for(topic: str) -> bool:
        return True


class _Consumer:
    """What getmany_rewinding touches of Faust's consumer; UPSTREAM_GETMANY yields ``fetch``."""

    def __init__(self, read: dict[TP, int], fetch: list[tuple[TP, int]], log_start: int = 0) -> None:
        self._read_offset = dict(read)
        self.log_start = log_start
        self.fetch = fetch
        self.app = SimpleNamespace(topics=_Topics(), rebalancing=False)
        self.seeks: list[tuple[TP, int]] = []
        self._committed_offset: dict[TP, int | None] = {}

    def assignment(self) -> set[TP]:
        return set(self._read_offset) | {tp for tp, _ in self.fetch}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, self.log_start)

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        for tp, offset in offsets.items():
            self.seeks.append((tp, offset))
            self._read_offset[tp] = offset


async def _rewinding(consumer: _Consumer) -> list[tuple[TP, int]]:
    """One fetch through the override, received as Faust's _drain_messages receives it."""
    async def upstream(self: _Consumer, timeout: float):  # type: ignore[no-untyped-def]
        for tp, offset in self.fetch:
            yield tp, SimpleNamespace(offset=offset)

    original = rewind.UPSTREAM_GETMANY
    rewind.UPSTREAM_GETMANY = upstream  # type: ignore[assignment]
    received = []
    try:
        async for tp, message in rewind.getmany_rewinding(consumer, 1.0):  # type: ignore[arg-type]
            received.append((tp, message.offset))
            consumer._read_offset[tp] = message.offset  # noqa: SLF001 - as _drain_messages does
    finally:
        rewind.UPSTREAM_GETMANY = original
    return received


async def test_a_record_past_a_skipped_one_is_held_back_and_the_partition_read_again() -> None:
    a, b = TP("cg.events", 0), TP("cg.events", 1)
    consumer = _Consumer({a: 173, b: 50}, [(b, 51), (a, 468), (a, 469), (b, 52)])
    assert await _rewinding(consumer) == []  # first sight: the read offsets may be "next to read"
    consumer.fetch = [(b, 50), (b, 51), (a, 173), (a, 468), (a, 469), (b, 52)]
    assert await _rewinding(consumer) == [(b, 50), (b, 51), (a, 173), (b, 52)]  # a's 174-467 missing
    assert consumer.seeks[-1] == (a, 174)
    consumer.fetch = [(a, 174), (a, 175)]  # a later fetch reads them, in order
    assert await _rewinding(consumer) == [(a, 174), (a, 175)]


async def test_dropped_again_after_a_rewind_is_read_again_never_let_through() -> None:
    a = TP("cg.events", 0)
    consumer = _Consumer({a: 10}, [(a, 30)])  # 10: the next offset to read (a seek set it)
    for _ in range(3):  # Faust drops 10-29 again and again: the partition is sought back each time
        assert await _rewinding(consumer) == []
    assert consumer.seeks == [(a, 10)] * 3  # never 11: offset 10 is not skipped
    assert not consumer.__dict__.get("_cg_real_gaps")


async def test_offsets_gone_from_the_log_are_let_go() -> None:
    a = TP("cg.events", 0)
    consumer = _Consumer({a: 10}, [(a, 30)], log_start=30)  # retention deleted 10-29
    assert await _rewinding(consumer) == [(a, 30)] and consumer.seeks == []
    assert (a, 10) in consumer._cg_real_gaps  # noqa: SLF001 - Faust may record this gap
    assert consumer._cg_log_start == {a: 30}  # noqa: SLF001 - where new_offset_no_hole's first run must start


async def test_a_gap_seen_by_faust_is_read_again_by_the_next_fetch() -> None:
    a = TP("cg.events", 0)
    consumer = _Consumer({a: 1809}, [])
    consumer.assignment = lambda: {a}  # type: ignore[attr-defined]
    await rewind.add_gap_never_as_processed(consumer, a, 1451, 1810)  # type: ignore[arg-type]
    consumer.fetch = [(a, 1451), (a, 1452)]
    assert await _rewinding(consumer) == [(a, 1451), (a, 1452)]
    assert consumer.seeks == [(a, 1451)]


def test_install_overrides_replaces_the_methods() -> None:
    from faust.transport.consumer import Consumer
    from faust.transport.producer import ProducerBuffer

    faust_compat.install_overrides()
    assert Consumer._add_gap is rewind.add_gap_never_as_processed  # noqa: SLF001
    assert Consumer._drain_messages is faust_compat.drain_in_order  # noqa: SLF001
    assert Consumer.getmany is rewind.getmany_rewinding
    assert Consumer._new_offset is rewind.new_offset_no_hole  # noqa: SLF001
    assert ProducerBuffer.flush is faust_compat.flush_until_empty
    assert ProducerBuffer.put is faust_compat.put_tracked
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert AIOKafkaConsumerThread.topic_partitions is faust_compat.topic_partitions_from_cluster


def test_no_commit_past_an_offset_that_was_never_acknowledged() -> None:
    a = TP("cg.events", 0)

    def consumer(acked: list[int], committed: int | None) -> SimpleNamespace:
        return SimpleNamespace(_acked={a: list(acked)}, _acked_index=defaultdict(set, {a: set(acked)}),
                               _gap=defaultdict(IntervalTree), _committed_offset={a: committed})

    # upstream commits 103 here, past message 100 (its callback was abandoned, it was never acked)
    holed = consumer([101, 102], 100)
    assert rewind.new_offset_no_hole(holed, a) is None  # type: ignore[arg-type]
    assert a in holed._cg_holes  # noqa: SLF001 - getmany reads offset 100 again after HOLE_SECONDS
    assert rewind.new_offset_no_hole(consumer([100, 101, 102, 105], 100), a) == 103  # type: ignore[arg-type]
    # nothing committed yet: the run must start at the log start, asked of the broker by getmany
    fresh = consumer([7, 8], None)
    assert rewind.new_offset_no_hole(fresh, a) is None  # type: ignore[arg-type]  # start not known yet
    fresh._cg_log_start = {a: 0}  # noqa: SLF001
    assert rewind.new_offset_no_hole(fresh, a) is None  # type: ignore[arg-type]  # upstream: 9, past 0-6
    assert fresh._cg_holes[a][0] == 0  # noqa: SLF001 - read again from the log start
    started = consumer([7, 8], None)
    started._cg_log_start = {a: 7}  # noqa: SLF001 - retention removed 0-6
    assert rewind.new_offset_no_hole(started, a) == 9  # type: ignore[arg-type]


class _Draining:
    """What drain_in_order touches of Faust's consumer: one fetch, then the fetcher stops."""

    consumer_stopped_errors = ()

    def __init__(self, fetch: list[int], suspend_at: int | None = None, regenerate_at: int | None = None) -> None:
        self.tp = TP("cg.events", 0)
        self.fetch, self.suspend_at, self.regenerate_at = fetch, suspend_at, regenerate_at
        self.app = SimpleNamespace(topics=_Topics(), consumer_generation_id=1, should_stop=False)
        self.transport = SimpleNamespace(app=self.app)
        self._read_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._stopped, self._fetcher = asyncio.Event(), SimpleNamespace(_stopped=asyncio.Event())
        self.suspend_flow = asyncio.Event()
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self._commit_every, self._n_acked, self.should_stop = None, 0, False
        self.commits = 0
        self.handed: list[int] = []
        self.gaps: list[tuple[int, int]] = []

    async def getmany(self, timeout: float):  # type: ignore[no-untyped-def]
        self._fetcher._stopped.set()  # noqa: SLF001 - one fetch only
        for offset in self.fetch:
            if offset == self.suspend_at:
                self.suspend_flow.set()
            yield self.tp, SimpleNamespace(offset=offset, topic=self.tp.topic, generation_id=1)

    async def callback(self, message: SimpleNamespace) -> None:
        self.handed.append(message.offset)
        if message.offset == self.regenerate_at:  # the callback waited while a rebalance happened
            self.app.consumer_generation_id = 2

    async def _add_gap(self, tp: TP, first: int, last: int) -> None:
        self.gaps.append((first, last))

    async def commit(self) -> bool:
        self.commits += 1
        return True


async def _drain(consumer: _Draining) -> None:
    await faust_compat.drain_in_order(consumer, consumer._fetcher)  # type: ignore[arg-type]  # noqa: SLF001


async def test_drain_hands_on_in_order_and_notes_gaps() -> None:
    consumer = _Draining([5, 6, 9, 10])
    await _drain(consumer)
    # upstream hands 9 and 10 on past the gap; here the next fetch reads 7 first
    assert consumer.handed == [5, 6] and consumer.gaps == [(7, 9)]
    assert consumer._read_offset[consumer.tp] == 6  # noqa: SLF001


async def test_drain_never_commits_in_the_fetch_loop() -> None:
    consumer = _Draining([5, 6, 7, 8])
    consumer._commit_every, consumer._n_acked = 2, 5  # noqa: SLF001 - upstream would commit before each record
    await _drain(consumer)
    assert consumer.handed == [5, 6, 7, 8]
    assert consumer.commits == 0  # the commit timer commits, beside the fetch


async def test_drain_stops_the_fetch_when_a_rebalance_suspends_the_flow() -> None:
    consumer = _Draining([5, 6, 7, 8], suspend_at=7)
    await _drain(consumer)
    # upstream abandons 7 and 8 yet moves the read offset to 8; here it stays at the last handed on
    assert consumer.handed == [5, 6] and consumer._read_offset[consumer.tp] == 6  # noqa: SLF001


async def test_drain_never_counts_a_message_handed_on_across_a_rebalance_as_read() -> None:
    consumer = _Draining([5, 6, 7], regenerate_at=6)
    await _drain(consumer)
    # 6 reached the stream with the old generation (the stream skips it): read again after the seek
    assert consumer.handed == [5, 6] and consumer._read_offset[consumer.tp] == 5  # noqa: SLF001


async def test_drain_skips_what_a_seek_put_behind_it() -> None:
    consumer = _Draining([3, 4, 5, 6])
    consumer._read_offset[consumer.tp] = 5  # noqa: SLF001 - a seek: 5 is the next to read
    await _drain(consumer)
    assert consumer.handed == [5, 6]


async def test_a_hole_in_a_partition_no_longer_owned_is_dropped_without_a_seek() -> None:
    """After a rebalance took the partition away, its new owner reads the offset: no seek, no warning here."""
    a, b = TP("cg.events", 0), TP("cg.events", 1)
    consumer = _Consumer({b: 5}, [(b, 6)])  # only b is assigned now
    consumer._cg_holes = {a: (100, 0.0), b: (5, 0.0)}  # type: ignore[attr-defined]  # noqa: SLF001 - both long due
    consumer._committed_offset = {a: 100, b: 5}  # noqa: SLF001
    await _rewinding(consumer)
    assert consumer._cg_holes == {}  # type: ignore[attr-defined]  # noqa: SLF001
    assert (b, 5) in consumer.seeks  # the owned partition's hole is read again
    assert all(tp == b for tp, _ in consumer.seeks)  # the revoked one is not sought


class _TopicsWithChangelog:
    @staticmethod
    def acks_enabled_for(topic: str) -> bool:
        return not topic.endswith("-changelog")


async def _perform_seek(consumer: _Consumer, committed: dict[TP, int]) -> None:
    """Faust's recovery seek (every partition to its committed offset) through the override."""
    async def upstream(self: _Consumer) -> None:
        self._read_offset.update(committed)  # as Consumer.perform_seek does
        self._committed_offset.update(committed)

    original = rewind.UPSTREAM_PERFORM_SEEK
    rewind.UPSTREAM_PERFORM_SEEK = upstream  # type: ignore[assignment]
    try:
        await rewind.perform_seek_tracked(consumer)  # type: ignore[arg-type]
    finally:
        rewind.UPSTREAM_PERFORM_SEEK = original


async def test_nothing_of_an_acked_topic_is_handed_on_while_the_app_rebalances() -> None:
    """Faust's recovery clears the stream queues after it sought: what reached them is dropped unacked."""
    a, changelog = TP("cg.events", 6), TP("cg-profiles-changelog", 6)
    consumer = _Consumer({a: 1885}, [(a, 1885), (changelog, 40), (a, 1886)])
    consumer.app = SimpleNamespace(topics=_TopicsWithChangelog(), rebalancing=True)
    assert await _rewinding(consumer) == [(changelog, 40)]  # table recovery goes on
    await _perform_seek(consumer, {a: 1885})
    consumer.fetch = [(a, 1885), (a, 1886)]  # fetched between the seek and the end of the rebalance
    assert await _rewinding(consumer) == [] and consumer.seeks == []
    consumer.app.rebalancing = False
    consumer.fetch = []  # the last records of the partition: no later one shows the jump
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 1885)]
    consumer.fetch = [(a, 1885), (a, 1886)]
    assert await _rewinding(consumer) == [(a, 1885), (a, 1886)]


async def test_recovery_seek_supersedes_a_pending_re_read_and_its_offset_is_due_next() -> None:
    a = TP("cg.events", 6)
    consumer = _Consumer({a: 1885}, [])
    consumer._cg_tracked = {a: (1885, 1886)}  # type: ignore[attr-defined]  # noqa: SLF001 - 1885 handed on...
    await rewind.add_gap_never_as_processed(consumer, a, 1887, 1890)  # type: ignore[arg-type]
    await _perform_seek(consumer, {a: 1885})  # ...but dropped from the queues: committed is 1885
    consumer.fetch = [(a, 1885), (a, 1886)]
    assert await _rewinding(consumer) == [(a, 1885), (a, 1886)]
    assert consumer.seeks == []  # not forward to 1887, past 1885 and 1886
    consumer.fetch = [(a, 1888)]
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 1887)]


async def test_a_gap_after_a_seek_is_read_again_from_the_offset_sought() -> None:
    """After a seek the read offset is the next to read: a drain that sees 1887 after it misses 1885 too."""
    a = TP("cg.events", 6)
    consumer = _Consumer({}, [])
    consumer.assignment = lambda: {a}  # type: ignore[method-assign]
    await _perform_seek(consumer, {a: 1885})
    await rewind.add_gap_never_as_processed(consumer, a, 1886, 1887)  # type: ignore[arg-type]
    consumer.fetch = [(a, 1885)]
    assert await _rewinding(consumer) == [(a, 1885)] and consumer.seeks == [(a, 1885)]


def _acking(acked: list[int], committed: int | None, log_start: int = 0) -> SimpleNamespace:
    a = TP("cg.events", 6)
    return SimpleNamespace(_acked={a: list(acked)}, _acked_index=defaultdict(set, {a: set(acked)}),
                           _gap=defaultdict(IntervalTree), _committed_offset=defaultdict(lambda: None, {a: committed}),
                           _cg_log_start={a: log_start})


def test_a_hole_is_noted_at_the_current_commit_base_never_kept_from_another() -> None:
    a = TP("cg.events", 6)
    consumer = _acking([1886, 1887], 1885)
    consumer._cg_holes = {a: (0, 5.0)}  # noqa: SLF001 - noted before recovery knew the committed offset
    assert rewind.new_offset_no_hole(consumer, a) is None  # type: ignore[arg-type]
    base, since = consumer._cg_holes[a]  # noqa: SLF001
    assert base == 1885 and since > 5.0
    assert rewind.new_offset_no_hole(consumer, a) is None  # type: ignore[arg-type]
    assert consumer._cg_holes[a] == (1885, since)  # noqa: SLF001 - the same hole: its time kept


async def test_the_stalled_partition_is_read_again_from_its_committed_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16's stall: 1885 never acknowledged, 1886-1887 re-read and acknowledged, and a hole
    left at the log start by the rebalance; the commit must not wait below 1885 for ever."""
    now = [1000.0]
    monkeypatch.setattr(rewind, "time", SimpleNamespace(monotonic=lambda: now[0]))
    a = TP("cg.events", 6)
    consumer = _Consumer({a: 1887}, [])
    consumer._committed_offset = defaultdict(lambda: None, {a: 1885})  # type: ignore[assignment]  # noqa: SLF001
    consumer._acked = {a: [1886, 1887]}  # type: ignore[attr-defined]  # noqa: SLF001
    consumer._acked_index = defaultdict(set, {a: {1886, 1887}})  # type: ignore[attr-defined]  # noqa: SLF001
    consumer._gap = defaultdict(IntervalTree)  # type: ignore[attr-defined]  # noqa: SLF001
    consumer._cg_log_start = {a: 0}  # type: ignore[attr-defined]  # noqa: SLF001
    consumer._cg_holes = {a: (0, 990.0)}  # type: ignore[attr-defined]  # noqa: SLF001 - the stale one
    assert rewind.new_offset_no_hole(consumer, a) is None  # type: ignore[arg-type]  # a commit tick
    await _rewinding(consumer)
    assert consumer.seeks == []  # the real hole is young: not yet
    now[0] += rewind.HOLE_SECONDS
    assert rewind.new_offset_no_hole(consumer, a) is None  # type: ignore[arg-type]  # commit ticks go on
    consumer.fetch = [(a, 1885)]
    assert await _rewinding(consumer) == [(a, 1885)] and consumer.seeks == [(a, 1885)]


def test_a_table_check_reads_partition_counts_from_the_cluster_not_the_leaders_snapshot() -> None:
    """On the group's leader aiokafka's snapshot held 0 for a changelog created just before the
    assignment: Faust's table check then raised PartitionsMismatch on every write."""
    changelog = "app-applied-definitions-changelog"
    known = {"app.by-subject": set(range(12)), changelog: set(range(12))}
    cluster = SimpleNamespace(partitions_for_topic=known.get)
    consumer = SimpleNamespace(_client=SimpleNamespace(cluster=cluster), _coordinator=SimpleNamespace(
        _metadata_snapshot={"app.by-subject": 12, changelog: 0}))
    thread = SimpleNamespace(_consumer=consumer)
    upstream = faust_compat.UPSTREAM_TOPIC_PARTITIONS
    assert upstream(thread, changelog) == 0  # type: ignore[arg-type]  # upstream: the stale snapshot
    assert faust_compat.topic_partitions_from_cluster(thread, changelog) == 12  # type: ignore[arg-type]
    assert faust_compat.topic_partitions_from_cluster(thread, "app.unknown") is None  # type: ignore[arg-type]
    assert faust_compat.topic_partitions_from_cluster(SimpleNamespace(_consumer=None), changelog) is None  # type: ignore[arg-type]


class _Positions:
    """aiokafka's assignment as rewind.fetch_position reads it: each partition's next fetch offset."""

    def __init__(self, positions: dict[TP, int]) -> None:
        self.positions = positions

    def state_value(self, tp: TP) -> SimpleNamespace:
        return SimpleNamespace(_position=self.positions[tp])


def _fetched_to(consumer: _Consumer, positions: dict[TP, int]) -> _Positions:
    """Give the fake consumer aiokafka's positions; a seek moves them, as aiokafka's does."""
    state = _Positions(dict(positions))
    subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=state))
    consumer._thread = SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription))  # type: ignore[attr-defined]  # noqa: SLF001
    seek_wait = consumer.seek_wait

    async def seek_and_move(offsets: dict[TP, int]) -> None:
        await seek_wait(offsets)
        state.positions.update(offsets)

    consumer.seek_wait = seek_and_move  # type: ignore[method-assign]
    return state


async def test_records_dropped_at_the_end_of_a_partition_are_read_again_without_a_later_record() -> None:
    """The SIGKILL test's stall: a restarted worker's fetch of every events partition was dropped to
    its end with nothing committed; no later record came to show the jump, lag stayed 1,250 for good."""
    a = TP("cg.events", 0)
    consumer = _Consumer({}, [])
    consumer.assignment = lambda: {a}  # type: ignore[method-assign]
    state = _fetched_to(consumer, {a: 1259})  # fetched 0-1258, none handed on
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 0)]  # from the log start
    assert state.positions[a] == 0
    consumer.fetch = [(a, 0), (a, 1)]
    assert await _rewinding(consumer) == [(a, 0), (a, 1)]
    state.positions[a] = 2  # where that fetch left aiokafka
    consumer.fetch = []
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 0)]  # position 2 is due: no seek


async def test_the_rest_of_a_fetch_dropped_after_some_was_handed_on_is_read_again() -> None:
    a = TP("cg.events", 0)
    consumer = _Consumer({}, [(a, 10), (a, 11)])
    consumer.assignment = lambda: {a}  # type: ignore[method-assign]
    consumer._committed_offset = {a: 10}  # noqa: SLF001
    state = _fetched_to(consumer, {a: 10})
    assert await _rewinding(consumer) == [(a, 10), (a, 11)]
    state.positions[a] = 16  # the fetch held 10-15; Faust handed on 10 and 11, dropped 12-15
    consumer.fetch = []
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 12)]


async def test_offsets_retention_deleted_are_not_sought_again_and_asked_once() -> None:
    a = TP("cg.events", 0)
    consumer = _Consumer({a: 10}, [], log_start=30)
    consumer.assignment = lambda: {a}  # type: ignore[method-assign]
    asked: list[tuple[TP, ...]] = []
    earliest = consumer.earliest_offsets

    async def counting(*tps: TP) -> dict[TP, int]:
        asked.append(tps)
        return await earliest(*tps)

    consumer.earliest_offsets = counting  # type: ignore[method-assign]
    _fetched_to(consumer, {a: 40})
    for _ in range(3):
        assert await _rewinding(consumer) == []
    assert consumer.seeks == [] and asked == [(a,), (a,)]  # the log start (first fetch), the check: once each


async def test_a_partition_with_nothing_committed_is_read_from_its_log_start_after_recovery() -> None:
    """Upstream perform_seek seeks only partitions with a committed offset; aiokafka leaves the rest
    where a fetch held back during the rebalance put them."""
    a, changelog = TP("cg.events", 2), TP("cg-profiles-changelog", 2)
    consumer = _Consumer({}, [(a, 0), (a, 1), (changelog, 5)], log_start=0)
    consumer.assignment = lambda: {a, changelog}  # type: ignore[method-assign]
    consumer.app = SimpleNamespace(topics=_TopicsWithChangelog(), rebalancing=True)
    state = _fetched_to(consumer, {a: 0, changelog: 5})
    assert await _rewinding(consumer) == [(changelog, 5)]
    state.positions[a] = 2  # held back: the rebalance is under way
    await _perform_seek(consumer, {})  # nothing committed: upstream seeks nothing
    consumer.app.rebalancing = False
    consumer.fetch = []
    assert await _rewinding(consumer) == [] and consumer.seeks == [(a, 0)]
