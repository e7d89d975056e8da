"""The stages against the in-memory backend (pipeline.stream.memory): no Kafka, Faust or Redis.

Routing, the commit order (Redis, then messages on, then the table), retries
after a failed Redis flush, dead letters and re-check scheduling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipeline.messages import Forget
from pipeline.processor import SubjectProcessor
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.stream import envelope
from pipeline.stream.effects import Effects, RetryPolicy
from pipeline.stream.ingest import Ingest
from pipeline.stream.maintenance import Maintenance
from pipeline.stream.memory import LocalMessage, RecordingWriter, memory_context
from pipeline.stream.profile_batch import ProfileBatch
from pipeline.stream.profiles import ProfileStage
from pipeline.stream.sinks import MemorySinks
from schemas.decode import decode_event
from schemas.groups import GroupDefinition

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
POLICY = ProfilePolicy(timezone="Europe/London", retention_days=400, currency="GBP")
SETTINGS = Settings(topic_partitions=4, topic_events="shop.events")
REGISTRY = GroupRegistry.from_definitions([GroupDefinition.model_validate(d) for d in (
    {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
    {"id": "30", "name": "Recent Sony", "type": "dynamic",
     "rules": [{"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"}]},
    {"id": "20", "name": "All Customers", "type": "dynamic", "rules": [["registered", "equals", "yes"]]},
)], POLICY)


class Stages:
    """The three stages on one in-memory context; sleeps are recorded, never slept."""

    def __init__(self) -> None:
        self.clock = NOW
        self.ctx = memory_context(SETTINGS, REGISTRY, POLICY, lambda: self.clock)
        self.slept: list[float] = []

        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)

        effects = Effects(self.ctx, RetryPolicy(first=0.5, factor=2, longest=1.0), sleep=sleep)
        self.maintenance = Maintenance(self.ctx, effects)
        self.ingest = Ingest(self.ctx, effects)
        self.profiles = ProfileStage(self.ctx, effects, self.maintenance)
        self.offset = 0

    @property
    def writer(self) -> RecordingWriter:
        assert isinstance(self.ctx.writer, RecordingWriter)
        return self.ctx.writer

    @property
    def sinks(self) -> MemorySinks:
        assert isinstance(self.ctx.sinks, MemorySinks)
        return self.ctx.sinks

    def storefront(self, key: str, event: dict[str, Any] | list[Any], *,
                   partition: int | None = None) -> LocalMessage:
        """An event as the storefront sends it: keyed by ``key``, on the partition the key hashes to."""
        self.offset += 1
        home = self.ctx.partitioner.of_key(key.encode())
        return LocalMessage.on(SETTINGS.topic_events, home if partition is None else partition, key.encode(),
                               orjson.dumps(event), self.offset)

    def rekeyed(self, subject: str, value: bytes) -> LocalMessage:
        self.offset += 1
        return LocalMessage.on("app.by-subject", self.ctx.partitioner.of_subject(subject), subject.encode(),
                               value, self.offset)

    async def ingest_batch(self, *messages: LocalMessage) -> None:
        await self.ingest.effects.timed_batch("ingest", list(messages), self.ingest.batch)

    def groups_in_redis(self) -> list[tuple[str, ...]]:
        return [c for flush in self.writer.flushed for c in flush if c[1].startswith("cg:s:")]


def view(visitor: str, n: int = 1, *, customer: str | None = None, brand: str = "Sony",
         at: datetime = NOW - timedelta(hours=1)) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "view", "event_id": f"{visitor}-view-{n}", "visitor_id": visitor,
                             "occurred_at": at.isoformat(),
                             "product": {"product_id": f"p{n}", "brand": brand, "category": "TV"}}
    if customer:
        event["customer_id"] = customer
    return event


async def test_an_anonymous_event_on_its_cookies_partition_is_folded_on_the_spot() -> None:
    s = Stages()
    await s.ingest_batch(s.storefront("ck1", view("ck1")))
    assert s.sinks.sent == []  # no hop through the re-keying topic
    assert ("SADD", "cg:s:{v:ck1}", "12", "30") in s.groups_in_redis()
    stored = s.ctx.profiles.load("v:ck1")
    assert stored is not None and stored[0].groups == {"12", "30"}
    assert s.ctx.profiles.subjects(s.ctx.partitioner.of_subject("v:ck1")) == ["v:ck1"]
    assert s.sinks.flushes == 1  # what the batch wrote is in Kafka before it is acknowledged


async def test_a_logged_in_event_goes_on_to_the_customer_and_links_the_cookie_after_the_send() -> None:
    s = Stages()
    await s.ingest_batch(s.storefront("ck1", view("ck1", customer="c1")))
    # the cookie's hand-over (its profile, none yet, merges into the customer's), then the event itself
    assert [(m.topic, m.key) for m in s.sinks.messages()] == [("subject", "c:c1"), ("subject", "c:c1")]
    merge, event = (envelope.decode(m.value) for m in s.sinks.messages())
    assert isinstance(merge, envelope.MergeIn) and merge.visitor == "v:ck1" and merge.profile is None
    assert event == orjson.dumps(view("ck1", customer="c1"))
    assert s.ctx.identity.get("ck1") == "c1"


async def test_an_event_off_its_cookies_partition_is_re_keyed_to_the_identity_stage() -> None:
    s = Stages()
    home = s.ctx.partitioner.of_key(b"ck1")
    await s.ingest_batch(s.storefront("ck1", view("ck1"), partition=(home + 1) % SETTINGS.topic_partitions))
    assert [(m.topic, m.key) for m in s.sinks.messages()] == [("visitor", "ck1")]
    assert s.ctx.profiles.load("v:ck1") is None and s.writer.flushed == []


async def test_the_profile_stage_commits_redis_then_messages_then_the_table() -> None:
    s = Stages()
    journal: list[str] = []
    flush, send, delete = s.writer.flush, s.sinks._send, s.ctx.profiles.delete  # noqa: SLF001

    async def journal_flush() -> int:
        journal.append("redis")
        return await flush()

    async def journal_send(*args: Any) -> Any:
        journal.append("send")
        return await send(*args)

    def journal_delete(*args: Any) -> None:
        journal.append("table")
        delete(*args)

    s.writer.flush, s.sinks._send = journal_flush, journal_send  # type: ignore[method-assign]  # noqa: SLF001
    s.ctx.profiles.delete = journal_delete  # type: ignore[method-assign]
    # a cookie whose profile is handed over to its customer: a merge goes on to the customer
    await s.ingest_batch(s.storefront("ck1", view("ck1")))
    journal.clear()
    handover = envelope.encode(envelope.Handover("c:c1", "login-1"))
    await s.profiles.batch([s.rekeyed("v:ck1", handover)])
    # the cookie leaves its groups in Redis, the merge is sent (and delivered), then its profile goes
    assert journal == ["redis", "send", "table"]
    assert s.ctx.profiles.load("v:ck1") is None
    assert [m.key for m in s.sinks.messages()] == ["c:c1"]
    assert isinstance(envelope.decode(s.sinks.messages()[0].value), envelope.MergeIn)


async def test_a_failed_redis_flush_retries_the_whole_batch_and_stores_nothing_twice() -> None:
    s = Stages()
    s.writer.fail = RuntimeError("injected: Redis answered nonsense")
    await s.ingest_batch(s.storefront("ck1", view("ck1")))
    assert s.slept == [0.5]  # one retry, after the policy's first wait
    assert s.ctx.metrics.retries.labels("ingest")._value.get() == 1  # noqa: SLF001
    mark, *writes = s.writer.flushed  # the partition's replay mark first, in a round trip of its own
    assert [c[1] for c in mark] == ["cg:o:{p3}:shop.events"]
    assert len(writes) == 1 and ("SADD", "cg:s:{v:ck1}", "12", "30") in writes[0]
    stored = s.ctx.profiles.load("v:ck1")
    assert stored is not None and stored[0].total("viewed", "brand") == 1  # folded once
    assert s.ctx.health.problems() == []  # recovered


async def test_a_lasting_redis_outage_backs_off_to_the_policys_longest_wait() -> None:
    assert list(zip(range(5), RetryPolicy(first=0.1, factor=2, longest=0.5).delays(), strict=False)) == [
        (0, 0.1), (1, 0.2), (2, 0.4), (3, 0.5), (4, 0.5)]


async def test_a_bad_event_is_dead_lettered_with_its_reason_and_the_batch_goes_on() -> None:
    s = Stages()
    bad = s.storefront("ck2", {"type": "view", "visitor_id": "ck2"})
    await s.ingest_batch(bad, s.storefront("ck1", view("ck1")))
    letters = [m for m in s.sinks.messages() if m.topic == "dead-letter"]
    assert len(letters) == 1
    letter = orjson.loads(letters[0].value)
    assert letter["reason"] == "invalid 'view' event"
    assert {e["location"] for e in letter["errors"]} >= {"event_id", "occurred_at"}
    assert letter["source"]["offset"] == bad.message.offset
    assert s.ctx.profiles.load("v:ck1") is not None


async def test_a_rolling_window_schedules_a_recheck_that_the_timer_sends_when_due() -> None:
    s = Stages()
    await s.ingest_batch(s.storefront("ck1", view("ck1")))
    due = s.ctx.schedule.next_day()
    assert due == POLICY.day_of(NOW) + 3  # "within 3 days": Recent Sony ends then
    await s.maintenance.send_due_rechecks()
    assert s.sinks.sent == []  # not yet
    s.clock = NOW + timedelta(days=3)
    await s.maintenance.send_due_rechecks()
    assert [(m.topic, m.key) for m in s.sinks.messages()] == [("subject", "v:ck1")]
    await s.profiles.batch([s.rekeyed("v:ck1", s.sinks.messages()[0].value)])
    assert ("SREM", "cg:s:{v:ck1}", "30") in s.groups_in_redis()


async def test_a_batched_record_is_folded_event_by_event_and_a_bad_event_is_dead_lettered_alone() -> None:
    s = Stages()
    batch = [view("ck1", 1), {"type": "view", "visitor_id": "ck1", "event_id": "broken"}, view("ck1", 2)]
    record = s.storefront("ck1", batch)  # a JSON array of events
    await s.ingest_batch(record)
    stored = s.ctx.profiles.load("v:ck1")
    assert stored is not None and stored[0].total("viewed", "brand") == 2  # both good views, folded here
    letters = [orjson.loads(m.value) for m in s.sinks.messages() if m.topic == "dead-letter"]
    assert len(letters) == 1
    assert letters[0]["source"] == {"topic": SETTINGS.topic_events, "partition": record.message.partition,
                                    "offset": record.message.offset, "batch_index": 1}
    assert orjson.loads(letters[0]["raw_text"]) == batch[1]  # the bad event's own bytes, not the batch's
    assert s.ctx.metrics.events_in.labels("ingest")._value.get() == 3  # noqa: SLF001


async def test_a_batch_too_long_or_empty_is_dead_lettered_whole() -> None:
    s = Stages()
    too_long = [view("ck1", n) for n in range(SETTINGS.max_events_per_record + 1)]
    await s.ingest_batch(s.storefront("ck1", too_long), s.storefront("ck2", []))
    letters = [orjson.loads(m.value) for m in s.sinks.messages() if m.topic == "dead-letter"]
    assert [letter["reason"] for letter in letters] == ["batch too large", "empty batch"]
    assert "batch_index" not in letters[0]["source"]
    assert s.ctx.profiles.load("v:ck1") is None


async def test_what_a_batch_sends_on_goes_as_one_record_per_destination_partition() -> None:
    s = Stages()
    logins = [s.storefront(f"ck{n}", view(f"ck{n}", customer=f"c{n}")) for n in range(12)]
    await s.ingest_batch(*logins)
    messages = s.sinks.messages()
    assert len(messages) == 24  # each cookie's hand-over (its merge) and its event, for its customer
    partitions = {s.ctx.partitioner.of_subject(f"c:c{n}") for n in range(12)}
    # the batch's merges and forwarded events go out together: one record per destination partition
    assert len(s.sinks.sent) == len(partitions) < len(messages)
    for n in range(12):  # and each customer still gets its merge before its event
        kinds = [type(envelope.decode(m.value)).__name__ for m in messages if m.key == f"c:c{n}"]
        assert kinds == ["MergeIn", "bytes"]


async def test_a_subjects_events_in_one_batch_are_decided_together(monkeypatch: Any) -> None:
    decided: list[int] = []
    original = SubjectProcessor.on_events

    def counting(self: SubjectProcessor, *args: Any) -> Any:
        result, taken = original(self, *args)
        decided.append(taken)
        return result, taken

    monkeypatch.setattr(SubjectProcessor, "on_events", counting)
    s = Stages()
    await s.ingest_batch(*(s.storefront("ck1", view("ck1", n)) for n in (1, 2, 3)),
                         s.storefront("ck2", view("ck2", brand="Acme")))
    assert sorted(decided) == [1, 3]  # ck1's three views in one decision, ck2's one in another
    stored = s.ctx.profiles.load("v:ck1")
    assert stored is not None and stored[0].groups == {"12", "30"}
    assert sum(stored[0].behaviour[("viewed", "brand")]["sony"].values()) == 3


async def test_when_deciding_events_together_fails_each_is_decided_alone_and_the_failing_one_dead_lettered(
        monkeypatch: Any) -> None:
    original = SubjectProcessor.on_events

    def failing(self: SubjectProcessor, profile: Any, next_check: Any, subject: str, events: Any, now: Any) -> Any:
        if len(events) > 1:
            original(self, profile, next_check, subject, events, now)  # folds them all, then fails to decide
            raise RuntimeError("a bug in deciding")
        if events[0].event_id == "ck1-view-2":
            raise RuntimeError("a bug in deciding")
        return original(self, profile, next_check, subject, events, now)

    s = Stages()
    await s.ingest_batch(s.storefront("ck1", view("ck1", 0, brand="Acme")))  # a stored profile
    monkeypatch.setattr(SubjectProcessor, "on_events", failing)
    second = s.storefront("ck1", view("ck1", 2))
    await s.ingest_batch(s.storefront("ck1", view("ck1", 1, brand="Acme")), second,
                         s.storefront("ck1", view("ck1", 3, brand="Acme")))
    letters = [orjson.loads(m.value) for m in s.sinks.messages() if m.topic == "dead-letter"]
    assert [(letter["reason"], letter["source"]["offset"]) for letter in letters] == [
        ("processing failed: RuntimeError('a bug in deciding')", second.message.offset)]
    stored = s.ctx.profiles.load("v:ck1")
    assert stored is not None
    # Alone, the Acme views are duplicates of what the failed attempt folded, and the Sony view
    # fails again; every group re-decided over the profile as it is puts it in the Sony groups.
    assert stored[0].groups == {"12", "30"}
    assert ("SADD", "cg:s:{v:ck1}", "12", "30") in s.groups_in_redis()


@dataclass
class HeldSinks(MemorySinks):
    """Every send is recorded and acknowledged only when the test resolves its future."""

    held: list[asyncio.Future[None]] = field(default_factory=list)

    async def _send(self, topic: str, key: str | bytes | int | None, value: bytes) -> Awaitable[Any]:
        await super()._send(topic, key, value)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(future)
        return future


async def _held_batch(s: Stages) -> ProfileBatch:
    """A batch with a cookie's event folded here and a customer's event sent on, over sinks the test acknowledges."""
    s.ctx.sinks = HeldSinks(partition_of=s.ctx.partitioner.of_subject)
    work = ProfileBatch(s.ctx, s.ingest.effects, "ingest", NOW)
    local = s.storefront("ck1", view("ck1"))
    await work.handle("v:ck1", decode_event(local.value), local)
    work.forward_event("c:c9", orjson.dumps(view("ck2", customer="c9")))
    return work


async def _commit_held(s: Stages, work: ProfileBatch) -> tuple[asyncio.Task[None], HeldSinks]:
    """Start ``work.commit()`` and run it until it waits for the broker."""
    sinks = s.ctx.sinks
    assert isinstance(sinks, HeldSinks)
    commit = asyncio.create_task(work.commit())
    for _ in range(20):
        await asyncio.sleep(0)
    assert sinks.held and not commit.done()  # waiting for the broker's acknowledgement
    return commit, sinks


async def _acknowledge(commit: asyncio.Task[None], sinks: HeldSinks) -> None:
    for future in sinks.held:
        future.set_result(None)
    await asyncio.wait_for(commit, 5)


async def test_events_sent_on_are_in_kafka_before_the_commit_ends_and_the_table_is_written_meanwhile() -> None:
    s = Stages()
    commit, sinks = await _commit_held(s, await _held_batch(s))
    assert s.ctx.profiles.raw("v:ck1") is not None  # the table did not wait for an event sent on
    await _acknowledge(commit, sinks)


async def test_a_hand_over_is_in_kafka_before_the_table_is_written() -> None:
    s = Stages()
    work = await _held_batch(s)
    work.outgoing.append(("ck3", Forget("ck3", "c3")))
    commit, sinks = await _commit_held(s, work)
    assert s.ctx.profiles.raw("v:ck1") is None  # a table write records the hand-over as done: not yet
    await _acknowledge(commit, sinks)
    assert s.ctx.profiles.raw("v:ck1") is not None
