"""Input read again after a worker died between its Redis write and its table write.

The dead worker's last batch reached Redis, not the changelog; the next owner
rebuilds the table without it and reads that batch's records again, batched
otherwise. Redis must end exactly as a run without the crash leaves it
(pipeline.stream.replay). The whole of Redis is compared (every set, link and
details hash, as :class:`~pipeline.stream.memory.MemoryRedis` holds them).
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.registry import GroupRegistry
from pipeline.stream import envelope
from pipeline.stream.memory import LocalMessage
from pipeline.stream.replay import MARK_AHEAD, ReplayWindow, bounds
from schemas.groups import GroupDefinition

from .test_stages import NOW, POLICY, SETTINGS, Stages

REGISTRY = GroupRegistry.from_definitions([GroupDefinition.model_validate(d) for d in (
    {"id": "22", "name": "Average spend over £500", "type": "dynamic", "rules": [["averagespend", "greater than", "£500"]]},
    {"id": "20", "name": "All Customers", "type": "dynamic", "rules": [["registered", "equals", "yes"]]},
    {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
    {"id": "13", "name": "Two Lego views", "type": "dynamic",
     "rules": [{"field": "brand", "op": "viewed", "value": "Lego", "at_least": 2}]},
)], POLICY)


class Shop(Stages):
    """The stages under :data:`REGISTRY`; ``restarted()`` is the next owner after a crash."""

    def __init__(self) -> None:
        super().__init__()
        self.ctx.registry = lambda: REGISTRY

    def restarted(self, tables: dict[str, dict[str, Any]], ends: dict[tuple[str, int], int] | None) -> Shop:
        """A new worker over this one's Redis, its tables as ``tables`` (the changelogs); its replay
        window opened as the worker opens it, from ``ends`` and the marks in Redis (None: left shut)."""
        other = Shop()
        other.writer.redis = self.writer.redis
        other.ctx.profiles.table.data = copy.deepcopy(tables["profiles"])  # type: ignore[attr-defined]
        other.ctx.identity.data = copy.deepcopy(tables["identity"])  # type: ignore[attr-defined]
        if ends is not None:
            data = self.writer.redis.data
            marks = {tp: int(data[key]) for tp in ends if (key := self.ctx.keys.replay_mark(*tp)) in data}
            other.ctx.replay.open(bounds(ends, marks, {}), marks)
        return other

    def tables(self) -> dict[str, dict[str, Any]]:
        return {"profiles": copy.deepcopy(self.ctx.profiles.table.data),  # type: ignore[attr-defined]
                "identity": copy.deepcopy(self.ctx.identity.data)}  # type: ignore[attr-defined]

    def redis(self) -> dict[str, Any]:
        """Every key but the replay marks (bookkeeping, as the fault suite leaves them out)."""
        return {k: v for k, v in self.writer.redis.data.items() if not k.startswith("cg:o:")}


def order(customer: str, n: int, total: int) -> dict[str, Any]:
    return {"type": "order", "event_id": f"{customer}-o{n}", "customer_id": customer, "order_id": f"{customer}-o{n}",
            "total": str(total), "currency": "GBP", "occurred_at": (NOW - timedelta(hours=50 - n)).isoformat(),
            "lines": [{"product": {"product_id": "p1", "brand": "Sony"}, "quantity": 1, "unit_price": str(total)}]}


def view(visitor: str, n: int, brand: str, customer: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "view", "event_id": f"{visitor}-v{n}", "visitor_id": visitor,
                             "occurred_at": (NOW - timedelta(hours=50 - n)).isoformat(),
                             "product": {"product_id": f"p{n}", "brand": brand, "category": "Home"}}
    if customer:
        event["customer_id"] = customer
    return event


class Logs:
    """The topics' partitions as lists of records: the storefront's events, and what the stages
    send on (re-keyed by subject or by cookie), each read from a position, as a consumer does."""

    def __init__(self, s: Stages, events: list[dict[str, Any]]) -> None:
        self.partitioner = s.ctx.partitioner
        self.records: dict[tuple[str, int], list[LocalMessage]] = {}
        for event in events:
            key = (event.get("visitor_id") or event["customer_id"]).encode()
            self._append(SETTINGS.topic_events, self.partitioner.of_key(key), key, orjson.dumps(event))
        self.events = [r for rs in self.records.values() for r in rs]
        self.events.sort(key=lambda r: [e["event_id"] for e in events].index(orjson.loads(r.value)["event_id"]))

    def _append(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        records = self.records.setdefault((topic, partition), [])
        records.append(LocalMessage.on(topic, partition, key, value, len(records)))

    def take_sent(self, s: Stages) -> None:
        """What ``s`` sent on since the last call, appended to the internal topics."""
        sent, s.sinks.sent = s.sinks.sent, []
        for record in sent:
            key = record.key.encode() if isinstance(record.key, str) else record.key
            assert isinstance(key, bytes) and record.topic in ("subject", "visitor"), record
            first = envelope.entries_of(key, record.value)[0][0]
            if record.topic == "subject":
                self._append(BY_SUBJECT, self.partitioner.of_subject(first), key, record.value)
            else:
                self._append(BY_VISITOR, self.partitioner.of_key(first.encode()), key, record.value)

    def ends(self) -> dict[tuple[str, int], int]:
        return {tp: len(records) for tp, records in self.records.items()}


BY_SUBJECT, BY_VISITOR = "app.by-subject", "app.by-visitor"


class Consumer:
    """One worker reading the logs from its committed positions: events in batches of the sizes
    given, and after each batch whatever the stages sent on, until nothing is left."""

    def __init__(self, s: Stages, logs: Logs, positions: dict[tuple[str, int], int]) -> None:
        self.s, self.logs, self.positions = s, logs, dict(positions)

    async def events(self, count: int, sizes: list[int] | None = None) -> None:
        read = sum(n for (topic, _), n in self.positions.items() if topic == SETTINGS.topic_events)
        todo = self.logs.events[read:read + count]
        batches = iter(sizes or [])
        while todo:
            size = next(batches, len(todo))
            batch, todo = todo[:size], todo[size:]
            await self.s.ingest_batch(*batch)
            for record in batch:
                tp = (record.message.topic, record.message.partition)
                self.positions[tp] = record.message.offset + 1
            await self._internal()

    async def _internal(self) -> None:
        s = self.s
        self.logs.take_sent(s)
        while True:
            pending = [(tp, records[self.positions.get(tp, 0):]) for tp, records in self.logs.records.items()
                       if tp[0] != SETTINGS.topic_events and len(records) > self.positions.get(tp, 0)]
            if not pending:
                return
            for tp, records in sorted(pending, key=lambda p: p[0][0] != BY_VISITOR):  # cookies first
                for record in records:
                    if tp[0] == BY_VISITOR:
                        await s.ingest.identity_message(record)
                if tp[0] == BY_SUBJECT:
                    await s.profiles.effects.timed_batch("profiles", records, s.profiles.batch)
                self.positions[tp] = len(self.logs.records[tp])
                self.logs.take_sent(s)


async def clean_run(events: list[dict[str, Any]]) -> dict[str, Any]:
    s = Shop()
    await Consumer(s, Logs(s, events), {}).events(len(events), [1] * len(events))
    return s.redis()


async def crashed_and_replayed(events: list[dict[str, Any]], done: int, crashed: int, replay_batches: list[int],
                               *, window: bool = True) -> dict[str, Any]:
    """``done`` events processed and committed; the next ``crashed`` (and what they send on) reach
    Redis and Kafka but not the tables (the worker dies); a new owner reads from its committed
    positions, the events in batches of ``replay_batches`` sizes."""
    s = Shop()
    logs = Logs(s, events)
    first = Consumer(s, logs, {})
    await first.events(done, [1] * done)
    changelog, committed = s.tables(), dict(first.positions)
    await first.events(crashed)
    r = s.restarted(changelog, logs.ends() if window else None)
    await Consumer(r, logs, committed).events(len(events) - done, replay_batches)
    return r.redis()


ORDERS = [order("c10", 1, 710), order("c10", 2, 233), order("c10", 3, 848)]  # averages 710, 471.5, 597


async def test_a_replayed_batch_that_ends_where_it_began_still_undoes_what_the_crashed_batch_wrote() -> None:
    # The crashed batch took c10's average under £500: Redis left group 22, the table never heard.
    # The replay folds that order and the next one together: stored in 22, still in 22.
    expected = await clean_run(ORDERS)
    assert "22" in expected["cg:s:{c:c10}"]
    assert await crashed_and_replayed(ORDERS, done=1, crashed=1, replay_batches=[2]) == expected


async def test_without_the_replay_window_the_same_crash_leaves_redis_wrong() -> None:
    """What the window mends: changes against the older stored profile cannot undo Redis being ahead."""
    expected = await clean_run(ORDERS)
    wrong = await crashed_and_replayed(ORDERS, done=1, crashed=1, replay_batches=[2], window=False)
    assert "22" not in wrong["cg:s:{c:c10}"] and wrong != expected


async def test_records_past_the_window_write_changes_only() -> None:
    s = Shop()
    sent = Logs(s, ORDERS).events
    s.ctx.replay.open({(sent[0].message.topic, sent[0].message.partition): 1})
    await s.ingest_batch(sent[0])
    assert any(c[0] == "DEL" and c[1] == "cg:s:{c:c10}" for c in s.writer.flushed[-1])  # rewritten whole
    await s.ingest_batch(sent[1])
    assert not any(c[0] == "DEL" for c in s.writer.flushed[-1])  # a change: SREM of group 22 only
    assert s.ctx.replay.ends == {}
    assert s.ctx.metrics.replay_rewrites._value.get() == 1  # noqa: SLF001 - the counter's value


async def test_a_batch_moves_its_partitions_mark_past_its_records_before_it_writes_redis() -> None:
    s = Shop()
    sent = Logs(s, ORDERS).events
    mark = s.ctx.keys.replay_mark(SETTINGS.topic_events, sent[0].message.partition)
    await s.ingest_batch(sent[0])
    assert s.writer.flushed[0] == [("SET", mark, str(1 + MARK_AHEAD))]  # alone, before the batch's writes
    assert s.writer.redis.data[mark] == str(1 + MARK_AHEAD)
    await s.ingest_batch(sent[1])
    assert not any(c[1] == mark for c in s.writer.flushed[-1])  # below the mark: no round trip
    s.ctx.replay.marks.clear()  # as after a rebalance, before the marks are read again
    await s.ingest_batch(sent[2])
    assert s.writer.redis.data[mark] == str(3 + MARK_AHEAD)


def test_a_partitions_window_ends_at_its_mark_or_end_and_without_a_mark_only_where_redis_kept_its_data() -> None:
    ends = {("t", 0): 500, ("t", 1): 500, ("t", 2): 500, ("t", 3): 500}
    marks = {("t", 0): 10_200, ("t", 1): 300}
    assert bounds(ends, marks, {2: True, 3: False}) == {("t", 0): 500, ("t", 1): 300, ("t", 2): 500, ("t", 3): 0}


def test_a_window_covers_what_was_below_each_partitions_end_until_a_batch_past_it_is_done() -> None:
    window = ReplayWindow()
    window.open({("t", 0): 3, ("t", 1): 0})
    at = LocalMessage.on
    assert window.ends == {("t", 0): 3}  # an empty partition has nothing to read again
    assert window.covers(at("t", 0, None, b"", 2).message)
    assert not window.covers(at("t", 1, None, b"", 0).message)
    assert not window.covers(at("t", 0, None, b"", 3).message)
    assert window.covers(at("t", 0, None, b"", 2).message)  # a retried batch reads it again
    window.passed([("t", 0), ("t", 1)])
    assert window.ends == {}
    window.open({("t", 0): 3})
    window.close()
    assert not window.covers(at("t", 0, None, b"", 0).message)


async def test_a_retried_batch_that_crossed_the_window_still_rewrites_what_it_covers() -> None:
    s = Shop()
    sent = Logs(s, ORDERS).events
    s.ctx.replay.open({(sent[0].message.topic, sent[0].message.partition): 1})
    s.writer.fail = RuntimeError("injected: Redis answered nonsense")
    await s.ingest_batch(sent[0], sent[1])  # covered, then past the end; the first attempt fails
    assert s.slept == [0.5]
    assert any(c[0] == "DEL" and c[1] == "cg:s:{c:c10}" for c in s.writer.flushed[-1])
    assert s.ctx.replay.ends == {}


SHOPPERS = st.sampled_from([  # c1's orders most: an average that crosses £500 back and forth
    *(lambda n, t: order("c1", n, t),) * 4, lambda n, t: order("c2", n, t),
    lambda n, t: view("ck1", n, "Lego"), lambda n, t: view("ck1", n, "Sony"),
    lambda n, t: view("ck2", n, "Lego", customer="c1"), lambda n, t: view("ck1", n, "Lego", customer="c2"),
])


@st.composite
def traffic(draw: st.DrawFn) -> list[dict[str, Any]]:
    makers = draw(st.lists(SHOPPERS, min_size=2, max_size=12))
    return [make(n, draw(st.sampled_from([100, 900]))) for n, make in enumerate(makers)]


@settings(max_examples=200, deadline=None)
@given(traffic(), st.data())
async def test_any_crash_replayed_in_any_batches_leaves_redis_as_a_run_without_it(
        events: list[dict[str, Any]], data: st.DataObject) -> None:
    done = data.draw(st.integers(0, len(events) - 1), label="done")
    crashed = data.draw(st.integers(1, len(events) - done), label="crashed")
    sizes = data.draw(st.lists(st.integers(1, 12), max_size=3), label="replay batches")
    assert await crashed_and_replayed(events, done, crashed, sizes) == await clean_run(events)
