"""A record holds one event or a batch of them (schemas.decode.decode_record)."""

from __future__ import annotations

import pytest

from schemas.decode import EventRejected, decode_record, validate_event


def test_an_object_is_one_event_and_an_array_a_batch() -> None:
    assert decode_record(b'{"type": "view"}') == [{"type": "view"}]
    assert decode_record(b'[{"type": "view"}, {"type": "search"}]') == [{"type": "view"}, {"type": "search"}]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[", "malformed JSON"),
    (b"[]", "empty batch"),
    (b'[{}, {}, {}]', "batch too large"),
    (b'"view"', "not an event"),
    (b"42", "not an event"),
])
def test_what_spoils_a_whole_record(raw: bytes, reason: str) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_record(raw, limit=2)
    assert caught.value.reason == reason


def test_each_event_of_a_batch_is_validated_alone() -> None:
    first, second = decode_record(b'[{"type": "view"}, 7]')
    with pytest.raises(EventRejected, match="invalid 'view' event"):
        validate_event(first)
    with pytest.raises(EventRejected, match="not an event"):
        validate_event(second)
