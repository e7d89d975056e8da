"""The messages the pipeline's own stages send each other on internal topics.

One byte says what the message is; the rest is its body. Events travel as
the storefront's original JSON (already validated once), so nothing is
re-serialised on the way and a dead letter can always show the exact bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from pipeline.messages import Forget, Handover, MergeIn

EVENT, HANDOVER, MERGE_IN, RECHECK, SYNC, FORGET, RECONCILE = b"E", b"H", b"M", b"R", b"S", b"F", b"C"
BUNDLE = b"B"
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Recheck:
    """A time window may have passed for this subject: re-evaluate it."""


@dataclass(frozen=True, slots=True)
class Sync:
    """Bring every profile of this partition up to date with the group definitions."""

    partition: int


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Rewrite this partition's subjects in Redis from the profile table; report under ``request_id``."""

    partition: int
    request_id: str


Control = Handover | MergeIn | Recheck | Sync | Forget | Reconcile
Message = bytes | Control  # bytes: a raw event


def encode_event(raw: bytes) -> bytes:
    return EVENT + raw


def encode(message: Control) -> bytes:
    if isinstance(message, Handover):
        return HANDOVER + orjson.dumps({"customer": message.customer, "merge_id": message.merge_id})
    if isinstance(message, MergeIn):
        header = orjson.dumps({"visitor": message.visitor, "merge_id": message.merge_id,
                               "has_profile": message.profile is not None})
        return MERGE_IN + _LENGTH.pack(len(header)) + header + (message.profile or b"")
    if isinstance(message, Recheck):
        return RECHECK
    if isinstance(message, Sync):
        return SYNC + orjson.dumps({"partition": message.partition})
    if isinstance(message, Reconcile):
        return RECONCILE + orjson.dumps({"partition": message.partition, "request_id": message.request_id})
    return FORGET + orjson.dumps({"visitor_id": message.visitor_id, "customer_id": message.customer_id})


def decode(value: bytes) -> Message:
    kind, body = value[:1], value[1:]
    if kind == EVENT:
        return body
    if kind == HANDOVER:
        doc = orjson.loads(body)
        return Handover(customer=doc["customer"], merge_id=doc["merge_id"])
    if kind == MERGE_IN:
        (length,) = _LENGTH.unpack_from(body)
        header = orjson.loads(body[_LENGTH.size:_LENGTH.size + length])
        profile = body[_LENGTH.size + length:] if header["has_profile"] else None
        return MergeIn(visitor=header["visitor"], merge_id=header["merge_id"], profile=profile)
    if kind == RECHECK:
        return Recheck()
    if kind == SYNC:
        return Sync(partition=orjson.loads(body)["partition"])
    if kind == RECONCILE:
        doc = orjson.loads(body)
        return Reconcile(partition=doc["partition"], request_id=doc["request_id"])
    if kind == FORGET:
        doc = orjson.loads(body)
        return Forget(visitor_id=doc["visitor_id"], customer_id=doc["customer_id"])
    raise ValueError(f"unknown internal message kind {kind!r}")


def encode_bundle(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """Many (key, message) pairs for one partition in one record: a stage sends one record per
    destination partition per batch, not one per message (Faust's cost is per record)."""
    parts = [BUNDLE]
    for key, value in entries:
        raw_key = key.encode()
        parts += [_LENGTH.pack(len(raw_key)), raw_key, _LENGTH.pack(len(value)), value]
    return b"".join(parts)


def entries_of(key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """The (key, message) pairs a record carries: a bundle's, or the record's own."""
    if value[:1] != BUNDLE:
        return [(key.decode() if key is not None else "", value)]
    out, at, end = [], 1, len(value)
    while at < end:
        (size,) = _LENGTH.unpack_from(value, at)
        at += _LENGTH.size
        entry_key = value[at:at + size].decode()
        at += size
        (size,) = _LENGTH.unpack_from(value, at)
        at += _LENGTH.size
        out.append((entry_key, value[at:at + size]))
        at += size
    return out
