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
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from pipeline.identity import route
from pipeline.messages import Forget
from pipeline.registry import GroupRegistry
from pipeline.stream import envelope
from pipeline.stream.context import StageContext
from pipeline.stream.delivery import delivered
from pipeline.stream.effects import Effects
from pipeline.stream.profile_batch import ProfileBatch, in_cookie_profile
from schemas.decode import EventRejected, FieldError, decode_event, decode_record, parsed_event, validate_event
from schemas.events import Event

log = logging.getLogger(__name__)


class Ingest:
    """The ingest agent (storefront events) and the identity agent (events re-keyed by cookie)."""

    def __init__(self, ctx: StageContext, effects: Effects) -> None:
        self.ctx = ctx
        self.effects = effects
        self._partition_counts: dict[str, int] = {}
        self._ingested = ctx.metrics.events_in.labels("ingest")  # bound once: labels() costs ~2 µs a call

    # --- the ingest agent ------------------------------------------------------------

    async def run(self, stream: Any) -> None:
        await self.ctx.ready.wait()
        await self.effects.run_batches(stream, "ingest", self.batch)

    async def batch(self, events: Sequence[Any]) -> None:
        """One batch of storefront events: validate, route, fold what is local, send on the rest."""
        ctx = self.ctx
        async with ctx.lock:
            work = ProfileBatch(ctx, self.effects, "ingest", ctx.now())
            links: dict[str, tuple[str, Any]] = {}  # cookie -> (customer, event), this batch
            rekey: list[tuple[str, bytes]] = []  # (cookie, raw event) for the identity stage
            for event, parsed, raw in await self._valid_events(events):
                visitor = parsed.visitor_id
                if not visitor:
                    subject = f"c:{parsed.customer_id}"
                    if self._is_home(event, parsed.customer_id):  # type: ignore[arg-type]  # validated: set
                        await work.handle(subject, parsed, event)
                    else:
                        work.forward_event(subject, raw)
                    continue
                if not self._is_home(event, visitor):
                    rekey.append((visitor, raw))
                    continue
                linked = links[visitor][0] if visitor in links else None
                routing = route(parsed, visitor, linked or ctx.identity.get(visitor, event))
                if routing.handover:  # the cookie's own profile, on this partition
                    await work.handle(f"v:{visitor}", routing.handover, event)
                if routing.subject == f"v:{visitor}":
                    await work.handle(routing.subject, parsed, event)
                elif parsed.customer_id or not in_cookie_profile(ctx, visitor, parsed, event):
                    work.forward_event(routing.subject, raw)
                if routing.link:
                    links[visitor] = (routing.link, event)
            await work.commit()  # merges and forwarded events go out together: one record per partition
            sent = await ctx.sinks.to_visitors([(visitor, envelope.encode_event(raw)) for visitor, raw in rekey])
            await delivered(sent)  # a link records the hand-over as done: only once it is in Kafka
            ctx.metrics.rekeyed.inc(len(rekey))
            for visitor, (customer, event) in links.items():
                ctx.identity.set(visitor, customer, event)

    def _is_home(self, event: Any, key: str) -> bool:
        """True when the message is keyed by ``key`` and sits on the partition ``key`` hashes to."""
        message = event.message
        if message.key != key.encode():
            return False
        count = self._partition_counts.get(message.topic)
        if count is None:
            known = self.ctx.placement.partitions_of(message.topic)
            if not known:
                return False  # not known yet (a rebalance): route through the identity stage
            count = self._partition_counts[message.topic] = known
        partitioner = self.ctx.partitioner
        return count == partitioner.partitions and message.partition == partitioner.of_key(message.key)

    async def _valid_events(self, records: Sequence[Any]) -> list[tuple[Any, Event, bytes]]:
        """(record, event, the event's bytes) of every valid event in the batch's records, in order.

        A record holds one event (a JSON object) or a batch (a JSON array,
        :func:`schemas.decode.decode_record`). What spoils a whole record
        dead-letters the record; a bad event in a batch dead-letters that event
        alone, with its index, and the others go on.
        """
        ctx = self.ctx
        limit, latest, registry = ctx.settings.max_events_per_record, ctx.now() + ctx.max_future, ctx.registry()
        valid: list[tuple[Any, Event, bytes]] = []
        ingested = 0
        max_bytes = ctx.settings.max_event_bytes
        for record in records:
            raw: bytes = record.value
            # The common record, one valid event, read by pydantic at once; any other takes the long way
            # (a batch, or a reason to dead-letter: decode_record and validate_event word it).
            event = parsed_event(raw) if raw and raw[:1] == b"{" and len(raw) <= max_bytes else None
            if event is not None:
                ingested += 1
                try:
                    valid.append((record, self._checked(event, latest, registry), raw))
                except Exception as exc:  # noqa: BLE001 - every reason is dead-lettered with the event
                    await self._dead_letter(record, raw, None, exc)
                continue
            try:
                items = self._items(raw, limit)
            except Exception as exc:  # noqa: BLE001 - every reason is dead-lettered with the record
                ingested += 1
                await self._dead_letter(record, raw, None, exc)
                continue
            ingested += len(items)
            single = len(items) == 1 and raw.lstrip()[:1] == b"{"
            for index, item in enumerate(items):
                event_raw = raw if single else orjson.dumps(item)
                # A plain call: a coroutine per event only to catch its rare failure was measurable.
                try:
                    valid.append((record, self._event(item, latest, registry), event_raw))
                except Exception as exc:  # noqa: BLE001 - every reason is dead-lettered with the event
                    await self._dead_letter(record, event_raw, None if single else index, exc)
        self._ingested.inc(ingested)
        return valid

    async def _dead_letter(self, record: Any, raw: bytes, batch_index: int | None, exc: Exception) -> None:
        """Dead-letter ``raw`` with the reason reading it failed."""
        if not isinstance(exc, EventRejected):
            log.exception("cannot read an event", exc_info=exc)
            exc = EventRejected(f"validation failed: {exc!r}")
        await self.effects.dead_letter(record, raw, exc, "ingest", batch_index)

    def _items(self, raw: bytes, limit: int) -> list[object]:
        max_bytes = self.ctx.settings.max_event_bytes
        if raw is not None and len(raw) > max_bytes:
            raise EventRejected("event too large", (FieldError(
                "(event)", f"{len(raw)} bytes; the limit is {max_bytes} (CG_MAX_EVENT_BYTES)", "too_large"),))
        return decode_record(raw, limit)

    def _event(self, item: object, latest: datetime, registry: GroupRegistry) -> Event:
        """A valid event, or :class:`EventRejected`: a valid one can still be refused for a clock
        far ahead (``latest``) or the wrong kind of group."""
        return self._checked(validate_event(item), latest, registry)

    def _checked(self, event: Event, latest: datetime, registry: GroupRegistry) -> Event:
        """``event``, or :class:`EventRejected` for a clock far ahead or the wrong kind of group."""
        if event.occurred_at > latest:
            raise EventRejected("event from the future", (FieldError(
                "occurred_at", f"{event.occurred_at.isoformat()} is more than "
                f"{self.ctx.max_future} ahead of the worker's clock", "future_timestamp"),))
        problem = registry.check(event)
        if problem:
            field, why, reason = problem
            raise EventRejected(reason, (FieldError(field, why, reason.replace(" ", "_")),))
        return event

    # --- the identity agent: events re-keyed by cookie ----------------------------------

    async def identity(self, stream: Any) -> None:
        """Events that were not on their cookie's partition arrive here, re-keyed by cookie."""
        ctx = self.ctx
        await ctx.ready.wait()
        async for event in stream.events():
            await self.identity_message(event)

    async def identity_message(self, event: Any) -> None:
        """One record of the re-keying topic: a message, or a bundle of them, each for a cookie."""
        for visitor, value in envelope.entries_of(event.key, event.value):
            await self._identity_entry(event, visitor, value)

    async def _identity_entry(self, event: Any, visitor: str, value: bytes) -> None:
        ctx = self.ctx
        ctx.metrics.events_in.labels("identity").inc()
        message = envelope.decode(value)
        if isinstance(message, Forget):
            async with ctx.lock:
                if ctx.identity.get(message.visitor_id, event) == message.customer_id:
                    ctx.identity.delete(message.visitor_id, event)
            return
        if not isinstance(message, bytes):
            log.warning("identity stage: ignoring a %s message", type(message).__name__)
            return
        try:
            parsed = decode_event(message)
        except EventRejected as rejected:
            await self.effects.dead_letter(event, message, rejected, "identity")
            return
        await self.effects.until_done(lambda: self._route(event, parsed, message, visitor), "identity")

    async def _route(self, event: Any, parsed: Event, raw: bytes, visitor: str) -> None:
        ctx = self.ctx
        async with ctx.lock:
            routing = route(parsed, visitor, ctx.identity.get(visitor, event))
            messages = [(f"v:{visitor}", envelope.encode(routing.handover))] if routing.handover else []
            messages.append((routing.subject, envelope.encode_event(raw)))
            await delivered(await ctx.sinks.to_subjects(messages))  # one record per partition, in order
            if routing.link:  # last: a retry after a failed send must still see the cookie unlinked
                ctx.identity.set(visitor, routing.link, event)
