"""Internal messages survive the trip between stages unchanged."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.messages import Forget, Handover, MergeIn
from pipeline.stream import envelope
from pipeline.stream.dead_letter import MAX_RECORD_BYTES, RAW_LIMIT, raw_of, record
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


@given(raw=st.one_of(st.binary(max_size=300_000), st.text(max_size=200_000).map(str.encode)),
       errors=st.integers(0, 2000), key=st.binary(max_size=5000))
@settings(max_examples=40, deadline=None)
def test_a_dead_letter_is_always_small_enough_to_write(raw: bytes, errors: int, key: bytes) -> None:
    """Whatever the message was, its dead letter fits the broker's default 1 MB (no poison pill)."""
    rejected = EventRejected("invalid 'search' event",
                             tuple(FieldError(f"lines.{i}.product", "x" * 5000, "string_too_long")
                                   for i in range(errors)))
    value = record(raw, rejected, stage="ingest", topic="t", partition=0, offset=1, key=key)
    assert len(value) <= MAX_RECORD_BYTES
    doc = orjson.loads(value)
    assert doc["raw_length"] == len(raw) and doc["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert doc["errors_total"] == errors and len(doc["errors"]) == min(errors, 20)
    assert doc["raw_truncated"] == (len(raw) > RAW_LIMIT)
    assert base64.b64decode(doc["raw_base64"]) == raw[:RAW_LIMIT]
    assert raw_of(value) == (None if len(raw) > RAW_LIMIT else raw)


def test_a_430_kb_search_dead_letters_in_a_small_record() -> None:
    raw = orjson.dumps({"type": "search", "event_id": "e", "occurred_at": "2025-11-02T10:00:00+00:00",
                        "visitor_id": "v", "query": "q" * 440_000})
    value = record(raw, EventRejected("invalid 'search' event"), stage="ingest", topic="t", partition=0,
                   offset=1, key=b"v")
    doc = orjson.loads(value)
    assert len(value) < 100_000 and doc["raw_truncated"] and doc["raw_text"] is None


def test_a_bundle_carries_many_keyed_messages_in_one_record_and_a_plain_record_one() -> None:
    entries = [("c:1", envelope.encode_event(b'{"a": 1}')), ("v:\u00e9", b""), ("c:2", envelope.encode(Forget("v", "c")))]
    assert envelope.entries_of(b"__bundle__", envelope.encode_bundle(entries)) == entries
    assert envelope.entries_of(b"c:1", b'E{"a": 1}') == [("c:1", b'E{"a": 1}')]
