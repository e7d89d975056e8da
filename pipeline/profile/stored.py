"""A subject's stored value: what the profile table holds for it.

A 6-byte header (the day of its next time-based re-check, the length of its
group list), its groups, then its encoded profile. A worker rebuilding its
re-check schedule after a restart reads only headers, and a change of
membership alone re-uses the encoded body.
"""

from __future__ import annotations

import struct

import orjson

from pipeline.profile.codec import decode, encode
from pipeline.profile.model import Profile

_HEADER = struct.Struct(">IH")  # next re-check day (date ordinal, 0 for none), groups length


def pack(profile: Profile, next_check: int | None, body: bytes | None = None, *, split: bool = True) -> bytes:
    """Header, the groups, then the encoded profile (without its groups).

    The groups sit outside the encoded body so that a change of membership alone
    (a back-fill, a re-check) stores the unchanged ``body`` again instead of
    re-encoding and re-compressing the whole profile. ``split``: the body's layout
    (:func:`~pipeline.profile.codec.encode`).
    """
    groups = orjson.dumps(sorted(profile.groups)) if profile.groups else b""
    if body is None:
        body = encode(profile, with_groups=False, split=split)
    return _HEADER.pack(next_check or 0, len(groups)) + groups + body


def unpack(stored: bytes, *, reads: frozenset[str] | None = None) -> tuple[Profile, int | None]:
    """The profile and its re-check day; with ``reads``, a partial read-only profile (see ``decode``)."""
    day, size = _HEADER.unpack_from(stored)
    start = _HEADER.size + size
    profile = decode(stored[start:], reads=reads)
    profile.groups = set(orjson.loads(stored[_HEADER.size:start])) if size else set()
    return profile, day or None


def body_of(stored: bytes) -> bytes:
    """The encoded profile inside a stored value, to store again unchanged."""
    _, size = _HEADER.unpack_from(stored)
    return stored[_HEADER.size + size:]


def peek_next_check(stored: bytes) -> int | None:
    day, _ = _HEADER.unpack_from(stored)
    return day or None
