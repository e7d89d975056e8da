"""Dead-letter records: a rejected message, byte for byte, with why it was rejected.

Nothing is lost: the raw bytes are kept (base64, so any bytes survive JSON),
with where they came from, so an operator can fix the sender and replay them.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import orjson

from schemas.decode import EventRejected


def record(
    raw: bytes | None,
    rejected: EventRejected,
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
) -> bytes:
    """The JSON value of one dead-letter message."""
    text: str | None
    try:
        text = raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        text = None
    return orjson.dumps({
        **rejected.as_dict(),
        "stage": stage,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "raw_text": text,
        "raw_base64": base64.b64encode(raw).decode("ascii") if raw is not None else None,
        "rejected_at": datetime.now(timezone.utc).isoformat(),
    })


def raw_of(dead_letter: bytes) -> bytes | None:
    """The original bytes of a dead letter, for replaying it."""
    encoded = orjson.loads(dead_letter).get("raw_base64")
    return base64.b64decode(encoded) if encoded is not None else None
