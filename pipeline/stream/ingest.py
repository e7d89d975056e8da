"""The ingest and identity stages: validate, resolve the cookie, fold what is local.

Per batch of storefront events, each event is validated (a bad one goes to the
dead-letter topic with its bytes and reason) and then, by where it sits:

* **keyed by its cookie, on the cookie's partition** (what the README asks of
  storefronts): this worker owns the cookie's identity entry, so it decides
  whose profile the event is for. An anonymous visitor's profile lives on this
  same partition (:mod:`pipeline.stream.partitioning`), so the event is folded
  here and now: one Kafka hop for most traffic. A logged-in event goes on to
  the customer's partition through the re-keying topic.
* **keyed by customer ID with no cookie, on that customer's partition**:
  folded here too.
* **anything else** (keyed some other way, a topic with another partition
  count): re-keyed by cookie to the identity stage, which routes it.

Identity links made in a batch are written to the table last, after the
profile work and the forwarded events: a retried batch still sees the cookie
unlinked and redoes the hand-over, whose merge ID makes it idempotent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pipeline.identity import route
from pipeline.messages import Forget
from pipeline.stream import envelope
from pipeline.stream.delivery import delivered
from pipeline.stream.faust_compat import event_context
from pipeline.stream.profile_batch import ProfileBatch
from schemas.decode import EventRejected, FieldError, decode_event
from schemas.events import Event

if TYPE_CHECKING:
    from faust.types import EventT, StreamT

    from pipeline.stream.stages import Stages

log = logging.getLogger(__name__)


class Ingest:
    def __init__(self, stages: Stages) -> None:
        self.stages = stages
        self.w = stages.w
        self._partition_counts: dict[str, int] = {}

    # --- the ingest agent ------------------------------------------------------------

    async def run(self, stream: StreamT) -> None:
        w = self.w
        await w.watcher.ready.wait()
        async for batch in stream.take_events(w.settings.batch_size, within=w.settings.batch_wait_seconds):
            await self.stages.timed_batch("ingest", batch, self._batch)

    async def _batch(self, events: list[EventT]) -> None:
        w, stages = self.w, self.stages
        async with stages.lock:
            work = ProfileBatch(stages, "ingest", w.now())
            links: dict[str, tuple[str, EventT]] = {}  # cookie -> (customer, event), this batch
            forward: list[tuple[str, bytes]] = []  # (subject, raw event) for other partitions
            rekey: list[tuple[str, bytes]] = []  # (cookie, raw event) for the identity stage
            for event in events:
                w.metrics.events_in.labels("ingest").inc()
                parsed = await self._validate(event)
                if parsed is None:
                    continue
                raw: bytes = event.value
                visitor = parsed.visitor_id
                if not visitor:
                    subject = f"c:{parsed.customer_id}"
                    if self._is_home(event, parsed.customer_id):  # type: ignore[arg-type]
                        await work.handle(subject, parsed, event)
                    else:
                        forward.append((subject, raw))
                    continue
                if not self._is_home(event, visitor):
                    rekey.append((visitor, raw))
                    continue
                linked = links[visitor][0] if visitor in links else None
                with event_context(event):
                    routing = route(parsed, visitor, linked or w.identity.get(visitor))
                if routing.handover:  # the cookie's own profile, on this partition
                    await work.handle(f"v:{visitor}", routing.handover, event)
                if routing.subject == f"v:{visitor}":
                    await work.handle(routing.subject, parsed, event)
                elif parsed.customer_id or not stages.in_cookie_profile(visitor, parsed, event):
                    forward.append((routing.subject, raw))
                if routing.link:
                    links[visitor] = (routing.link, event)
            await work.commit()
            sent = [await stages.send_to_subject(subject, envelope.encode_event(raw)) for subject, raw in forward]
            sent += [await w.by_visitor.send(key=visitor.encode(), value=envelope.encode_event(raw), force=True)
                     for visitor, raw in rekey]
            await delivered(sent)  # a link records the hand-over as done: only once it is in Kafka
            for visitor, (customer, event) in links.items():
                with event_context(event):
                    w.identity[visitor] = customer

    def _is_home(self, event: EventT, key: str) -> bool:
        """True when the message is keyed by ``key`` and sits on the partition ``key`` hashes to."""
        message = event.message
        if message.key != key.encode():
            return False
        count = self._partition_counts.get(message.topic)
        if count is None:
            count = self._partition_counts[message.topic] = self.w.app.consumer.topic_partitions(
                message.topic) or 0
        partitioner = self.stages.partitioner
        return count == partitioner.partitions and message.partition == partitioner.of_key(message.key)

    async def _validate(self, event: EventT) -> Event | None:
        """The parsed event, or None when it was dead-lettered."""
        raw: bytes = event.value
        try:
            if raw is not None and len(raw) > self.w.settings.max_event_bytes:
                raise EventRejected("event too large", (FieldError(
                    "(event)", f"{len(raw)} bytes; the limit is {self.w.settings.max_event_bytes} "
                    "(CG_MAX_EVENT_BYTES)", "too_large"),))
            parsed = decode_event(raw)
            self._check_policy(parsed)
            return parsed
        except EventRejected as rejected:
            await self.stages.dead_letter(event, raw, rejected, "ingest")
        except Exception as exc:
            log.exception("cannot validate a message")
            await self.stages.dead_letter(event, raw, EventRejected(f"validation failed: {exc!r}"), "ingest")
        return None

    def _check_policy(self, event: Event) -> None:
        """Valid JSON can still be refused: a clock far ahead, or the wrong kind of group."""
        w = self.w
        if event.occurred_at > w.now() + w.max_future:
            raise EventRejected("event from the future", (FieldError(
                "occurred_at", f"{event.occurred_at.isoformat()} is more than "
                f"{w.max_future} ahead of the worker's clock", "future_timestamp"),))
        problem = w.registry.check(event)
        if problem:
            field, why, reason = problem
            raise EventRejected(reason, (FieldError(field, why, reason.replace(" ", "_")),))

    # --- the identity agent: events re-keyed by cookie ----------------------------------

    async def identity(self, stream: StreamT) -> None:
        """Events that were not on their cookie's partition arrive here, re-keyed by cookie."""
        w = self.w
        await w.watcher.ready.wait()
        async for event in stream.events():
            w.metrics.events_in.labels("identity").inc()
            visitor = event.key.decode()
            message = envelope.decode(event.value)
            if isinstance(message, Forget):
                async with self.stages.lock:
                    if w.identity.get(message.visitor_id) == message.customer_id:
                        del w.identity[message.visitor_id]
                continue
            try:
                parsed = decode_event(message)  # type: ignore[arg-type]
            except EventRejected as rejected:
                await self.stages.dead_letter(event, event.value, rejected, "identity")
                continue
            await self.stages.until_done(
                lambda e=event, p=parsed, m=message, v=visitor: self._route(e, p, m, v),  # type: ignore[misc]
                "identity")

    async def _route(self, event: EventT, parsed: Event, raw: bytes, visitor: str) -> None:
        w, stages = self.w, self.stages
        async with stages.lock:
            routing = route(parsed, visitor, w.identity.get(visitor))
            sent = []
            if routing.handover:
                sent.append(await stages.send_to_subject(f"v:{visitor}", envelope.encode(routing.handover)))
            sent.append(await stages.send_to_subject(routing.subject, envelope.encode_event(raw)))
            await delivered(sent)
            if routing.link:  # last: a retry after a failed send must still see the cookie unlinked
                w.identity[visitor] = routing.link
