"""One batch of profile work: each subject loaded once, Redis written once, then stored.

Both the ingest stage (anonymous and customer-keyed events it can fold on the
spot) and the profile stage (everything that came through the re-keying topic)
fill a :class:`ProfileBatch` and commit it. The commit order is what makes
retries and crashes safe:

1. **Redis** first: a crash afterwards leaves profiles behind Redis, never
   ahead. The redelivered messages are folded again and re-send the same
   idempotent writes. The other order could store a profile whose Redis write
   never happened, and the redelivered event would then be skipped as a
   duplicate.
2. **Messages on** (a visitor's profile moving into a customer's, GDPR
   forgets), sent and **acknowledged by the broker** before the table is
   written: a table write records the hand-over as done (the cookie's profile
   is gone, its link is set), and with RocksDB that write survives a SIGKILL
   even when an unacknowledged message does not. Then the redelivered login
   would find the hand-over done and never send it again: its profile lost.
   One wait per batch that forwards anything, all messages at once. A
   redelivered batch re-sends them and the receiver drops the duplicate by its
   merge ID.
3. **The table** last; the stage then waits until its changelog records are
   in Kafka before the batch is acknowledged (``Stages.until_done``): table
   recovery replays the changelog over a worker's local RocksDB, so a write
   whose record a SIGKILL lost could otherwise be undone after its batch was
   acknowledged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.messages import Forget, Handover, MergeIn, Outgoing
from pipeline.processor import Result, SubjectProcessor
from pipeline.profile import Profile
from pipeline.profile.stored import pack, unpack
from pipeline.store.details import details_commands, details_of
from pipeline.stream import envelope
from pipeline.stream.delivery import delivered
from pipeline.stream.faust_compat import event_context
from schemas.decode import EventRejected, decode_event
from schemas.events import Event

if TYPE_CHECKING:
    from faust.types import EventT

    from pipeline.stream.stages import Stages

log = logging.getLogger(__name__)

# What a profile can be asked to do: an event (parsed, or raw bytes from the
# re-keying topic), a time re-check, a hand-over or a merge.
ProfileMessage = Event | bytes | envelope.Recheck | Handover | MergeIn


@dataclass
class _State:
    profile: Profile | None
    next_check: int | None
    event: EventT  # the latest message for the subject: its partition is the table's
    dirty: bool = False
    delete: bool = False


class ProfileBatch:
    def __init__(self, stages: Stages, stage: str, now: datetime) -> None:
        self.stages = stages
        self.w = stages.w
        self.stage = stage
        self.now = now
        self.processor = SubjectProcessor(self.w.registry, self.w.policy)
        self.states: dict[str, _State] = {}
        self.outgoing: list[tuple[str, Outgoing]] = []
        self.forwarded: list[tuple[str, bytes]] = []  # (subject, raw event) for another partition

    async def handle(self, subject: str, message: ProfileMessage, event: EventT) -> None:
        """Fold one message into the subject's profile; stage its Redis writes."""
        w = self.w
        w.metrics.events_in.labels("profiles").inc()
        state = self.states.get(subject) or self._load(subject, event)
        state.event = event
        started = time.perf_counter()
        details_before = details_of(state.profile)
        try:
            result = self._run(state, subject, message)
        except Exception as exc:
            log.exception("cannot process a message for %s", subject)
            raw = message if isinstance(message, bytes) else event.value
            await self.stages.dead_letter(event, raw, EventRejected(f"processing failed: {exc!r}"),
                                          self.stage)
            return
        w.metrics.evaluation_seconds.observe(time.perf_counter() - started)
        self._apply(state, subject, result)
        w.writer.stage_commands(details_commands(
            w.keys, subject, details_before, details_of(state.profile), result.delete))
        self.states[subject] = state
        self.outgoing += result.outgoing

    def forward_event(self, subject: str, raw: bytes) -> None:
        """Send a raw event on to ``subject``'s partition with the batch's other messages."""
        self.forwarded.append((subject, raw))

    def _load(self, subject: str, event: EventT) -> _State:
        with event_context(event):
            stored = self.w.profiles.get(subject)
        if stored is None:
            return _State(None, None, event)
        profile, next_check = unpack(stored)
        return _State(profile, next_check, event)

    def _run(self, state: _State, subject: str, message: ProfileMessage) -> Result:
        processor, now = self.processor, self.now
        if isinstance(message, bytes):
            message = decode_event(message)
        if isinstance(message, envelope.Recheck):
            self.w.metrics.rechecks.inc()
            return processor.on_recheck(state.profile, state.next_check, now)
        if isinstance(message, Handover):
            return processor.on_handover(state.profile, subject, message)
        if isinstance(message, MergeIn):
            return processor.on_merge_in(state.profile, state.next_check, subject, message, now)
        return processor.on_event(state.profile, state.next_check, subject, message, now)

    def _apply(self, state: _State, subject: str, result: Result) -> None:
        self.w.writer.stage(subject, result.change)
        m = self.w.metrics.membership_changes
        if result.joined:
            m.labels("joined").inc(len(result.joined))
        if result.left or result.dropped:
            m.labels("left").inc(len(result.left) + len(result.dropped))
        if result.delete:
            state.profile, state.next_check, state.dirty, state.delete = None, None, True, True
        elif result.store:
            state.profile, state.next_check, state.dirty, state.delete = (
                result.profile, result.next_check, True, False)

    async def commit(self) -> None:
        """Redis, then messages on, then the table: see the module docstring."""
        w, stages = self.w, self.stages
        await stages.flush_redis()
        sent = []
        for key, message in self.outgoing:
            if isinstance(message, Forget):
                sent.append(await w.by_visitor.send(key=key.encode(), value=envelope.encode(message), force=True))
            else:
                sent.append(await stages.send_to_subject(key, envelope.encode(message)))
        for subject, raw in self.forwarded:
            sent.append(await stages.send_to_subject(subject, envelope.encode_event(raw)))
        await delivered(sent)
        subjects = stages.subjects_by_partition
        for subject, state in self.states.items():
            if not state.dirty:
                continue
            partition = state.event.message.partition
            with event_context(state.event):
                if state.delete:
                    if subject in w.profiles:
                        del w.profiles[subject]
                    subjects.get(partition, set()).discard(subject)
                    w.schedule.set(subject, None)
                else:
                    w.profiles[subject] = pack(state.profile, state.next_check)  # type: ignore[arg-type]
                    subjects.setdefault(partition, set()).add(subject)
                    w.schedule.set(subject, state.next_check)
        w.metrics.scheduled.set(len(w.schedule))
        self.states, self.outgoing, self.forwarded = {}, [], []
