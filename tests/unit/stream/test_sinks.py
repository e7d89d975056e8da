"""A bundle never outgrows what the re-keying topics accept (pipeline.stream.sinks.records_for)."""

from __future__ import annotations

from pipeline.stream.envelope import entries_of
from pipeline.stream.sinks import records_for


def test_messages_are_bundled_while_they_fit_and_split_in_order_when_not() -> None:
    entries = [(f"c:{n}", bytes([65 + n]) * 300) for n in range(7)]
    records = records_for(entries, limit=1000)  # three 300-byte messages (+ keys, lengths) fit
    assert [len(entries_of(key, value)) for key, value in records] == [3, 3, 1]
    assert [e for key, value in records for e in entries_of(key, value)] == entries
    assert all(len(value) <= 1000 + 1 for key, value in records[:-1])
    assert records[-1] == (b"c:6", entries[6][1])  # a lone message goes as a plain record


def test_a_message_larger_than_the_limit_still_goes_alone() -> None:
    big = ("c:big", b"x" * 5000)
    assert records_for([("c:1", b"a"), big, ("c:2", b"b")], limit=1000) == [
        (b"c:1", b"a"), (b"c:big", big[1]), (b"c:2", b"b")]
