"""Internal messages survive the trip between stages unchanged."""

from __future__ import annotations

import base64

import orjson
import pytest

from pipeline.processor import Forget, Handover, MergeIn
from pipeline.stream import envelope
from pipeline.stream.dead_letter import raw_of, record
from schemas.decode import EventRejected, FieldError


@pytest.mark.parametrize("message", [
    Handover("c:1", "m1"), MergeIn("v:a", "m1", b"\x01\x00binary\xff"), MergeIn("v:a", "m2", None),
    envelope.Recheck(), envelope.Sync(3), Forget("a", "1"), envelope.Reconcile(2, "req-1"),
])
def test_round_trip(message: object) -> None:
    assert envelope.decode(envelope.encode(message)) == message  # type: ignore[arg-type]


def test_events_travel_as_their_original_bytes() -> None:
    raw = b'{"type":"view"}'
    assert envelope.decode(envelope.encode_event(raw)) == raw


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown internal message"):
        envelope.decode(b"Zzz")


def test_dead_letter_keeps_the_bytes_and_the_reason() -> None:
    raw = b"\xff not utf-8"
    rejected = EventRejected("malformed JSON", (FieldError("(event)", "bad", "json_invalid"),))
    value = record(raw, rejected, stage="ingest", topic="cg.events", partition=2, offset=41, key=b"v1")
    doc = orjson.loads(value)
    assert doc["reason"] == "malformed JSON" and doc["errors"][0]["kind"] == "json_invalid"
    assert doc["source"] == {"topic": "cg.events", "partition": 2, "offset": 41}
    assert doc["raw_text"] is None and base64.b64decode(doc["raw_base64"]) == raw
    assert raw_of(value) == raw
