"""Decoding raw bytes into events, with errors precise enough for a dead letter."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, Event


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``location`` is a dotted path such as ``product.brand``."""

    location: str
    message: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "message": self.message, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class EventRejected(Exception):
    """Why a message is not a valid event; becomes the reason of its dead-letter record."""

    reason: str
    errors: tuple[FieldError, ...] = field(default=())

    def __str__(self) -> str:
        if not self.errors:
            return self.reason
        details = "; ".join(f"{e.location}: {e.message}" for e in self.errors)
        return f"{self.reason}: {details}"

    def as_dict(self) -> dict[str, object]:
        return {"reason": self.reason, "errors": [e.as_dict() for e in self.errors]}


def _location(loc: tuple[int | str, ...]) -> str:
    # Drop the discriminator tag pydantic puts first (e.g. 'view') so paths read as fields.
    parts = [str(p) for p in loc]
    return ".".join(parts) if parts else "(event)"


#: The most events one record of the events topic may hold (a collector's flush for one visitor).
MAX_EVENTS_PER_RECORD = 100


def _parse(raw: bytes | str) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventRejected("malformed JSON", (FieldError("(event)", str(exc), "json_invalid"),)) from None


def parsed_event(raw: bytes | str) -> Event | None:
    """The event ``raw`` holds when it is a valid one, else None (:func:`decode_event` says why).

    pydantic reads the JSON itself: about a third cheaper per event than
    ``orjson.loads`` then :func:`validate_event`, which builds a dict only to
    read it again. It accepts what that path accepts, with an equal event
    (property-tested), and refuses what it refuses, with one exception: a
    number beyond 64 bits or beyond a double in a field the contract ignores,
    which orjson calls malformed JSON and pydantic skips with the field.
    """
    try:
        return EVENT_ADAPTER.validate_json(raw)
    except ValidationError:
        return None


def decode_event(raw: bytes | str) -> Event:
    """Parse and validate one event, or raise :class:`EventRejected`."""
    event = parsed_event(raw)
    if event is not None:
        return event
    return validate_event(_parse(raw))  # the reason, worded as for an event of a batch


def decode_record(raw: bytes | str, limit: int = MAX_EVENTS_PER_RECORD) -> list[object]:
    """The events a record holds, still unvalidated: one (a JSON object) or a batch (a JSON array).

    Raises :class:`EventRejected` only for what spoils the whole record (not
    JSON, an empty or too long batch, neither object nor array); each event is
    then validated on its own (:func:`validate_event`), so one bad event in a
    batch is rejected alone.
    """
    data = _parse(raw)
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            raise EventRejected("empty batch", (FieldError("(record)", "a batch holds 1 or more events",
                                                           "too_short"),))
        if len(data) > limit:
            raise EventRejected("batch too large", (FieldError(
                "(record)", f"{len(data)} events; a record holds at most {limit}", "too_long"),))
        return data
    raise EventRejected("not an event", (FieldError(
        "(event)", "expected a JSON object (one event) or an array of them (a batch)", "object_type"),))


def validate_event(data: object) -> Event:
    """Validate one parsed event, or raise :class:`EventRejected` with every field's problem."""
    if not isinstance(data, dict):
        raise EventRejected(
            "not an event", (FieldError("(event)", "expected a JSON object", "object_type"),)
        )
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        event_type = data.get("type")
        errors = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            if loc and loc[0] == event_type:
                loc = loc[1:]
            errors.append(FieldError(_location(loc), err["msg"], err["type"]))
        # The reason is one of a few fixed phrases (metrics count by it); details go in errors.
        # (a "type" that is a list or an object is no type: not looked up, it cannot be hashed)
        known = isinstance(event_type, str) and event_type in EVENT_TYPES
        reason = f"invalid {event_type!r} event" if known else "invalid event"
        raise EventRejected(reason, tuple(errors)) from None
