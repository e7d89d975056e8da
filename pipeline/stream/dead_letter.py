"""Dead-letter records: a rejected message, its bytes, and why it was rejected.

Nothing is lost silently: the raw bytes are kept (base64, so any bytes
survive JSON), with where they came from, so an operator can fix the sender
and replay them.

A dead letter must always be writable, whatever the message was, or one bad
message would stop its partition for good (a record the broker refuses is
retried forever). So a record is bounded, at most about
:data:`MAX_RECORD_BYTES` whatever it describes:

* the bytes are kept whole up to :data:`RAW_LIMIT`; past that only the first
  :data:`RAW_LIMIT` bytes are kept, with ``raw_truncated: true``, and
  ``raw_length`` and ``raw_sha256`` of the whole message, so the original can
  still be found and checked in the storefront's own logs;
* ``raw_text`` repeats those bytes as text only when they are UTF-8 and short
  (:data:`TEXT_LIMIT`), for a human reading the topic;
* at most :data:`MAX_ERRORS` field errors (``errors_total`` counts them all),
  each message cut to :data:`MESSAGE_LIMIT` characters;
* the key is cut to :data:`KEY_LIMIT` characters;
* one bad event of a batched record (a JSON array) is dead-lettered alone: its
  own bytes (as JSON) and ``source.batch_index``, its place in the batch.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson

from schemas.decode import EventRejected

RAW_LIMIT = 64 * 1024
TEXT_LIMIT = 4 * 1024
MAX_ERRORS = 20
MESSAGE_LIMIT = 500
KEY_LIMIT = 1024
#: A bound on a whole record (base64 of RAW_LIMIT, escaped text, errors, key), far under
#: the broker's default 1 MB, so the dead-letter topic needs no special configuration.
MAX_RECORD_BYTES = 128 * 1024


def record(
    raw: bytes | None,
    rejected: EventRejected,
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    batch_index: int | None = None,
) -> bytes:
    """The JSON value of one dead-letter message, at most about :data:`MAX_RECORD_BYTES`."""
    kept = raw[:RAW_LIMIT] if raw is not None else None
    text: str | None = None
    if kept is not None and len(kept) <= TEXT_LIMIT:
        try:
            text = kept.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    errors = [e.as_dict() for e in rejected.errors[:MAX_ERRORS]]
    for error in errors:
        error["message"] = error["message"][:MESSAGE_LIMIT]
    return orjson.dumps({
        "reason": rejected.reason,
        "errors": errors,
        "errors_total": len(rejected.errors),
        "stage": stage,
        "source": {"topic": topic, "partition": partition, "offset": offset,
                   **({"batch_index": batch_index} if batch_index is not None else {})},
        "key": key[:KEY_LIMIT].decode("utf-8", "replace") if key is not None else None,
        "raw_text": text,
        "raw_base64": base64.b64encode(kept).decode("ascii") if kept is not None else None,
        "raw_length": len(raw) if raw is not None else None,
        "raw_truncated": raw is not None and len(raw) > RAW_LIMIT,
        "raw_sha256": hashlib.sha256(raw).hexdigest() if raw is not None else None,
        "rejected_at": datetime.now(UTC).isoformat(),
    })


def raw_of(dead_letter: bytes) -> bytes | None:
    """The original bytes of a dead letter, for replaying it; None when absent or truncated."""
    doc = orjson.loads(dead_letter)
    encoded = doc.get("raw_base64")
    if encoded is None or doc.get("raw_truncated"):
        return None
    return base64.b64decode(encoded)
