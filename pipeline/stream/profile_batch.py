"""One batch of profile work: each subject loaded once, Redis written once, then stored.

Both the ingest stage (anonymous and customer-keyed events it can fold on the
spot) and the profile stage (everything that came through the re-keying topic)
fill a :class:`ProfileBatch` and commit it. The commit order is what makes
retries and crashes safe:

1. **Redis** first: a crash afterwards leaves profiles behind Redis, never
   ahead. The redelivered messages are folded again; their subjects' keys are
   rewritten whole, not changed, since the replay may batch them otherwise
   (:mod:`pipeline.stream.replay`). The other order could store a profile
   whose Redis write never happened, and the redelivered event would then be
   skipped as a duplicate.
2. **Messages on** (a visitor's profile moving into a customer's, GDPR
   forgets), sent and **acknowledged by the broker** before the table is
   written: a table write records the hand-over as done (the cookie's profile
   is gone, its link is set), and with RocksDB that write survives a SIGKILL
   even when an unacknowledged message does not. Then the redelivered login
   would find the hand-over done and never send it again: its profile lost.
   One wait per batch that hands anything over, all messages at once. A
   redelivered batch re-sends them and the receiver drops the duplicate by its
   merge ID. Events merely sent on to their subject's partition record
   nothing in the table: they are sent with the rest, and the wait for them
   comes after the table writes (the round trip spent writing, not idle), still
   before the commit ends and so before the batch is acknowledged.
3. **The table** last; its changelog records are in Kafka before the batch is
   acknowledged (the stages' agents: :meth:`Effects.until_settled
   <pipeline.stream.effects.Effects.until_settled>` run by
   :func:`~pipeline.stream.batches.take_batches` while the next batch is
   handled; elsewhere :meth:`Effects.until_done
   <pipeline.stream.effects.Effects.until_done>`): table recovery replays the
   changelog over a worker's local RocksDB, so a write whose record a SIGKILL
   lost could otherwise be undone after its batch was acknowledged. The next
   batch may read what this one wrote before it settles: if it never does, neither
   batch is acknowledged and both are read again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.messages import Forget, Handover, MergeIn, Outgoing
from pipeline.processor import Result, SubjectProcessor
from pipeline.profile import Profile, counted
from pipeline.store.details import details_commands, details_of
from pipeline.store.keys import split_subject
from pipeline.store.writer import Command
from pipeline.stream import envelope
from pipeline.stream.context import StageContext
from pipeline.stream.delivery import delivered
from pipeline.stream.effects import Effects
from pipeline.stream.reconcile import mirrored_cookies, rewrite
from schemas.decode import EventRejected, decode_event
from schemas.events import Event

log = logging.getLogger(__name__)

# What a profile can be asked to do: an event (parsed, or raw bytes from the
# re-keying topic), a time re-check, a hand-over or a merge.
ProfileMessage = Event | bytes | envelope.Recheck | Handover | MergeIn
_NOT_EVENTS = (envelope.Recheck, Handover, MergeIn)


def in_cookie_profile(ctx: StageContext, visitor: str, event: Event | bytes, at: Any) -> bool:
    """True when an anonymous event is already counted in its cookie's stored profile.

    Such an event goes to the customer with the cookie's hand-over; sent on by
    itself as well (it is read again after a crash or a rewind, once the cookie is
    linked) it could reach the customer before the hand-over and be counted twice.
    """
    stored = ctx.profiles.read(f"v:{visitor}", at)
    if stored is None:  # the usual case once the hand-over is done: no decoding at all
        return False
    parsed = decode_event(event) if isinstance(event, bytes) else event
    return counted(stored, parsed, ctx.policy)


@dataclass
class _State:
    profile: Profile | None
    next_check: int | None
    event: Any  # the latest message for the subject: its partition is the table's
    dirty: bool = False
    delete: bool = False
    details: dict[str, str] = field(default_factory=dict)  # the customer details as loaded


class ProfileBatch:
    def __init__(self, ctx: StageContext, effects: Effects, stage: str, now: datetime) -> None:
        self.ctx = ctx
        self.effects = effects
        self.stage = stage
        self.now = now
        self.processor = SubjectProcessor(ctx.registry(), ctx.policy, split_layout=ctx.settings.split_profiles)
        self.states: dict[str, _State] = {}
        # events waiting to be decided, per subject: (event, its record, its bytes for a dead letter)
        self.pending: dict[str, list[tuple[Event, Any, Any]]] = {}
        self.outgoing: list[tuple[str, Outgoing]] = []
        self.forwarded: list[tuple[str, bytes]] = []  # (subject, raw event) for another partition
        self.rewrite: set[str] = set()  # subjects of input a previous owner may have processed
        self.reached: dict[Any, int] = {}  # input partition -> highest offset past its replay mark
        self.past_window: set[Any] = set()  # input partitions with records past their replay window
        self.messages = 0  # handled since the last commit
        self.evaluating = 0.0  # seconds spent folding and evaluating them
        self.joined = self.left = 0  # memberships gained and lost by them

    async def handle(self, subject: str, message: ProfileMessage, event: Any) -> None:
        """Fold one message into the subject's profile; stage its Redis writes.

        Events wait in the batch, per subject, and are decided together when
        the subject's next other message comes or the batch commits
        (:meth:`SubjectProcessor.on_events`): a session's events cost one
        decision. Every other message is handled at once, after the events
        before it.
        """
        self.messages += 1
        replay, record = self.ctx.replay, event.message
        if replay.ends:
            if replay.covers(record):
                self.rewrite.add(subject)
            else:
                self.past_window.add(record.tp)
        if record.offset >= replay.marks.get(record.tp, 0) and record.offset > self.reached.get(record.tp, -1):
            self.reached[record.tp] = record.offset
        raw = event.value
        if isinstance(message, bytes):
            raw = message
            try:
                message = decode_event(message)
            except Exception as exc:  # noqa: BLE001 - every reason is dead-lettered with the message
                await self._failed(subject, raw, event, exc)
                return
        if not isinstance(message, _NOT_EVENTS):  # an event (Event is a union: not a class to check)
            waiting = self.pending.get(subject)
            if waiting is None:
                self.pending[subject] = [(message, event, raw)]
            else:
                waiting.append((message, event, raw))
            return
        if subject in self.pending:
            await self._decide_events(subject)
        state = self.states.get(subject) or self._load(subject, event)
        state.event = event
        started = time.perf_counter()
        try:
            result = self._run(state, subject, message)
        except Exception as exc:  # noqa: BLE001 - dead-lettered with its reason
            await self._failed(subject, event.value, event, exc)
            return
        self.evaluating += time.perf_counter() - started
        self._apply(state, subject, result)
        self.states[subject] = state

    async def _decide_events(self, subject: str) -> None:
        """The subject's waiting events, in order, in as few decisions as they allow."""
        waiting = self.pending.pop(subject)
        state = self.states.get(subject) or self._load(subject, waiting[0][1])
        processor, now = self.processor, self.now
        messages = [message for message, _, _ in waiting]
        done = 0
        started = time.perf_counter()
        while done < len(waiting):
            shown = state.profile.groups if state.profile is not None else None  # what Redis shows
            try:
                result, taken = processor.on_events(state.profile, state.next_check, subject, messages[done:], now)
            except Exception:  # noqa: BLE001 - retried one by one below, the failing one dead-lettered
                if state.profile is not None and shown is not None:
                    state.profile.groups = shown  # the failed attempt may have decided without writing
                await self._one_by_one(state, subject, waiting[done:])
                break
            done += taken
            state.event = waiting[done - 1][1]
            self._apply(state, subject, result)
        self.evaluating += time.perf_counter() - started
        self.states[subject] = state

    async def _one_by_one(self, state: _State, subject: str, events: list[tuple[Event, Any, Any]]) -> None:
        """After a decision over several events failed: each alone, then every group re-decided.

        The failed attempt may have folded events it did not decide; re-deciding
        every group over the profile as it is leaves its groups exact.
        """
        processor, now = self.processor, self.now
        for message, event, raw in events:
            state.event = event
            try:
                self._apply(state, subject, processor.on_event(state.profile, state.next_check, subject,
                                                               message, now))
            except Exception as exc:  # noqa: BLE001 - dead-lettered with its reason
                await self._failed(subject, raw, event, exc)
        if state.profile is not None:
            everything = list(self.ctx.registry().groups.values())
            self._apply(state, subject, processor.on_backfill(state.profile, state.next_check, everything, now))

    async def _failed(self, subject: str, raw: Any, event: Any, exc: Exception) -> None:
        log.error("cannot process a message for %s", subject, exc_info=exc)
        if not isinstance(exc, EventRejected):
            exc = EventRejected(f"processing failed: {exc!r}")
        await self.effects.dead_letter(event, raw, exc, self.stage)

    def forward_event(self, subject: str, raw: bytes) -> None:
        """Send a raw event on to ``subject``'s partition with the batch's other messages."""
        self.forwarded.append((subject, raw))

    def _load(self, subject: str, event: Any) -> _State:
        stored = self.ctx.profiles.load(subject, event)
        if stored is None:
            return _State(None, None, event)
        return _State(stored[0], stored[1], event, details=details_of(stored[0]))

    def _run(self, state: _State, subject: str, message: envelope.Recheck | Handover | MergeIn) -> Result:
        processor, now = self.processor, self.now
        if isinstance(message, envelope.Recheck):
            self.ctx.metrics.rechecks.inc()
            return processor.on_recheck(state.profile, state.next_check, now)
        if isinstance(message, Handover):
            return processor.on_handover(state.profile, subject, message)
        return processor.on_merge_in(state.profile, state.next_check, subject, message, now)

    def _apply(self, state: _State, subject: str, result: Result) -> None:
        self.outgoing += result.outgoing
        if result.changes_membership or result.delete:  # else Redis has nothing to show
            self.ctx.writer.stage(subject, result.change)
        self.joined += len(result.joined)
        self.left += len(result.left) + len(result.dropped)
        if result.delete:
            state.profile, state.next_check, state.dirty, state.delete = None, None, True, True
        elif result.store:
            state.profile, state.next_check, state.dirty, state.delete = (
                result.profile, result.next_check, True, False)

    async def _rewrite_whole(self) -> None:
        """Stage, after the batch's changes, each replayed subject's keys as its profile says them
        whole, and the removal of groups Redis shows beyond them (:mod:`pipeline.stream.replay`)."""
        ctx = self.ctx
        subjects = sorted(s for s in self.rewrite if s in self.states)
        shown = await self.effects.with_redis(lambda: ctx.writer.groups_of(subjects))
        commands: list[Command] = []
        for subject in subjects:
            profile = self.states[subject].profile
            groups = sorted(profile.groups) if profile is not None else []
            commands += rewrite(ctx.keys, subject, groups, mirrored_cookies(subject, profile), details_of(profile))
            anonymous, raw_id = split_subject(subject)
            commands += [("SREM", ctx.keys.members(g, anonymous), raw_id) for g in sorted(shown[subject] - set(groups))]
        ctx.writer.stage_commands(commands)
        ctx.metrics.replay_rewrites.inc(len(subjects))

    async def _move_marks(self) -> None:
        """Before Redis holds effects of records at or past their partition's replay mark: the mark
        moved beyond them, in a round trip of its own (:mod:`pipeline.stream.replay`)."""
        ctx = self.ctx
        marks = ctx.replay.unmarked(self.reached)
        if marks:
            commands = [("SET", ctx.keys.replay_mark(topic, partition), str(mark))
                        for (topic, partition), mark in marks.items()]
            writer = ctx.writer.fresh()  # not the batch's writes: those go after it
            writer.stage_commands(commands)
            await self.effects.flush_redis(writer)
            ctx.replay.marks.update(marks)

    async def commit(self) -> None:
        """Redis, then messages on, then the table: see the module docstring."""
        ctx = self.ctx
        for subject in list(self.pending):
            await self._decide_events(subject)
        for subject, state in self.states.items():
            # Customer details (names, consents...) once per subject and batch: what changed since the load.
            if state.dirty and subject.startswith("c:"):
                ctx.writer.stage_commands(details_commands(
                    ctx.keys, subject, state.details, details_of(state.profile), state.delete))
        if self.rewrite:
            await self._rewrite_whole()
        if self.reached:
            await self._move_marks()
        await self.effects.flush_redis()
        to_subjects = [(key, envelope.encode(m)) for key, m in self.outgoing if not isinstance(m, Forget)]
        to_subjects += [(subject, envelope.encode_event(raw)) for subject, raw in self.forwarded]
        forgets = [(key, envelope.encode(m)) for key, m in self.outgoing if isinstance(m, Forget)]
        # one record per destination partition
        sent = await ctx.sinks.to_subjects(to_subjects) + await ctx.sinks.to_visitors(forgets)
        if self.outgoing:  # hand-overs, merges, forgets: in Kafka before the table records them done
            await delivered(sent)
            sent = []
        for subject, state in self.states.items():
            if not state.dirty:
                continue
            if state.delete:
                ctx.profiles.delete(subject, state.event)
                ctx.schedule.set(subject, None)
            else:
                assert state.profile is not None
                ctx.profiles.save(subject, state.profile, state.next_check, state.event)
                ctx.schedule.set(subject, state.next_check)
        # Events sent on only: in Kafka before the batch is acknowledged, their round trip spent
        # writing the table, not waiting for it.
        await delivered(sent)
        ctx.metrics.scheduled.set(len(ctx.schedule))
        if self.messages:
            # Once per batch, not per message: a metric update costs about what folding
            # an event does. The histogram gets the batch's mean per message.
            ctx.metrics.events_in.labels("profiles").inc(self.messages)
            ctx.metrics.evaluation_seconds.observe(self.evaluating / self.messages)
        if self.joined:
            ctx.metrics.membership_changes.labels("joined").inc(self.joined)
        if self.left:
            ctx.metrics.membership_changes.labels("left").inc(self.left)
        if self.past_window:
            ctx.replay.passed(self.past_window)
        self.states, self.outgoing, self.forwarded, self.rewrite, self.reached = {}, [], [], set(), {}
        self.past_window = set()
        self.messages, self.evaluating, self.joined, self.left = 0, 0.0, 0, 0
