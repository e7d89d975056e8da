"""Raw topics hand on key and value as the broker gave them, without the serializer registry
(pipeline.stream.raw_schema), the same event Faust's own raw codec makes."""

from __future__ import annotations

import faust
import pytest
from faust.types import TP, Message

from pipeline.stream.raw_schema import RawSchema


def _message(key: bytes | None, value: bytes | None) -> Message:
    return Message(topic="t", partition=1, offset=7, timestamp=0.0, timestamp_type=0, headers=[("h", b"1")],
                   key=key, value=value, checksum=None, tp=TP("t", 1))


@pytest.mark.parametrize(("key", "value"), [(b"ck1", b'{"a":1}'), (None, b"[]"), (b"k", None), (None, None)])
async def test_the_event_equals_the_raw_codecs(key: bytes | None, value: bytes | None) -> None:
    app = faust.App("test-raw-schema", broker="kafka://localhost:1", store="memory://", web_enabled=False)
    ours = app.topic("t", schema=RawSchema(), key_serializer="raw", value_serializer="raw")
    fausts = app.topic("t2", key_serializer="raw", value_serializer="raw")
    message = _message(key, value)
    mine, theirs = await ours.decode(message, propagate=True), await fausts.decode(message, propagate=True)
    assert (mine.key, mine.value, mine.headers, mine.message) == (theirs.key, theirs.value, theirs.headers, message)
    assert mine.key is key and mine.value is value  # the very bytes, nothing copied


def test_sending_still_uses_the_raw_codec() -> None:
    app = faust.App("test-raw-schema-send", broker="kafka://localhost:1", store="memory://", web_enabled=False)
    topic = app.topic("t", schema=RawSchema(), key_serializer="raw", value_serializer="raw")
    assert (topic.key_serializer, topic.value_serializer) == ("raw", "raw")
    key, _ = topic.prepare_key("ck1", None)
    value, _ = topic.prepare_value(b"v", None)
    assert (key, value) == (b"ck1", b"v")
