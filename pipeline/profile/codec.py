"""Profile <-> bytes, compact enough to keep millions of profiles in a table.

Layout: the first byte says how the rest is stored.

* ``{`` -- the bytes are the orjson document itself (small profiles stay readable);
* ``\\x01`` -- zlib-compressed orjson document (used when it is smaller);
* ``\\x02`` -- split: a 4-byte length, the *head* document (every key but
  behaviour ``b`` and dedupe hashes ``h``), then those two as a document of
  their own, stored plain or zlib-compressed as above. What this worker writes
  whenever a profile has behaviour: a reader that needs scalar fields only (a
  back-fill of a group over last seen, orders or sign-up) parses the ~100-byte
  head and never the ~450-byte tail (0.8 µs instead of about 7 on the bench
  machine). Workers before this form cannot read it (they refuse it with
  :class:`ProfileDecodeError`): a worker with ``CG_PROFILE_LAYOUT=whole``
  writes the whole document instead (``{`` or ``\x01``), for a rolling update
  from such workers (README, "Upgrading").

The document carries ``"v"`` (format version). A decoder reads every version up
to its own and refuses newer ones with :class:`ProfileDecodeError`; keys it
does not know are ignored, so a later version may add keys without a bump.

Compactness: two-letter keys; instants as integer microseconds since the Unix
epoch; days as offsets back from ``newest_day``; the ``(at, event_id)`` stamps
of registers interned in one table (a signup's email, names, date joined and
opt-ins share one); 64-bit hashes packed 8 bytes each into base64url strings
(11 characters per hash instead of 20 digits).
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from pipeline.profile.model import (
    ACTIONS,
    DIMENSIONS,
    ConsentRecord,
    Kind,
    OrderRecord,
    OrderStats,
    Profile,
    StaffRecord,
    Stamped,
)

CODEC_VERSION = 1
COMPRESS_ABOVE = 1024
"""Documents up to this many bytes are stored plain: zlib cannot save much on them (measured:
below about 1 KB the packed event hashes make most documents incompressible, and each attempt
cost ~15 µs for nothing)."""

_PLAIN = ord("{")
_ZLIB = 0x01
_SPLIT = 0x02
_HEAD_LENGTH = struct.Struct(">I")
_TAIL_KEYS = ("b", "h")  # behaviour and dedupe hashes: most of a profile's bytes and decode time
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KIND_CODE: dict[Kind, str] = {(a, d): a[0] + d[0] for a in ACTIONS for d in DIMENSIONS}
_CODE_KIND: dict[str, Kind] = {code: kind for kind, code in _KIND_CODE.items()}
_NAMES = (("e", "email"), ("fn", "first_name"), ("ln", "last_name"))
_ALL_PARTS = frozenset({"activity", "orders", "profile", "consent", "staff"})
_PART_KEYS = _ALL_PARTS | {"time"}  # "time" (a moving window) needs no part of its own


class ProfileDecodeError(ValueError):
    """The bytes are not a profile this version can read."""


def _us(ts: datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _ts(us: int) -> datetime:
    if not isinstance(us, int):
        raise TypeError("an instant is an integer of microseconds")
    return _EPOCH + timedelta(0, 0, us)  # positional: a third cheaper than microseconds=us


def _pack(hashes: set[int]) -> str:
    raw = struct.pack(f">{len(hashes)}Q", *sorted(hashes))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unpack(text: str) -> set[int]:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) % 8:
        raise ValueError("hash list is not a whole number of 64-bit hashes")
    return set(struct.unpack(f">{len(raw) // 8}Q", raw))


def _flat_days(days: dict[int, int], base: int) -> list[int]:
    """{day: count} as [offset, count, ...], newest first (the hot loop of encode)."""
    if len(days) == 1:
        for day, n in days.items():
            return [base - day, n]
    flat: list[int] = []
    for day in sorted(days, reverse=True):
        flat += (base - day, days[day])
    return flat


def _days_from_flat(flat: list[int], base: int) -> dict[int, int]:
    if len(flat) == 2:
        return {base - flat[0]: flat[1]}
    if len(flat) % 2:
        raise ValueError("a day list has an odd length")
    return {base - flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


class _Stamps:
    """Interns ``(at, event_id)`` pairs: registers written by one event share an entry."""

    def __init__(self) -> None:
        self.index: dict[tuple[int, str], int] = {}

    def __call__(self, at: datetime, event_id: str) -> int:
        return self.index.setdefault((_us(at), event_id), len(self.index))

    def table(self) -> list[list[Any]]:
        return [[us, event_id] for us, event_id in self.index]


def _to_doc(p: Profile, with_groups: bool) -> dict[str, Any]:
    stamp = _Stamps()
    base = p.newest_day if p.newest_day is not None else 0
    doc: dict[str, Any] = {"v": CODEC_VERSION, "s": p.subject}
    if p.customer_id is not None:
        doc["c"] = p.customer_id
    if p.customer_stamp is not None:
        doc["cs"] = stamp(*p.customer_stamp)
    if p.visitor_ids:
        doc["vi"] = sorted(p.visitor_ids)
    if p.newest_day is not None:
        doc["nd"] = p.newest_day
    if p.last_seen is not None:
        doc["ls"] = _us(p.last_seen)
    for key, name in _NAMES:
        reg = getattr(p, name)
        if reg is not None:
            doc[key] = [reg.value, stamp(reg.at, reg.event_id)]
    if p.date_joined is not None:
        doc["dj"] = [p.date_joined.value.toordinal(), stamp(p.date_joined.at, p.date_joined.event_id)]
    if p.consents:
        doc["cn"] = {
            g: [int(r.granted), stamp(r.at, r.event_id), r.source]
            + ([r.staff_id] if r.staff_id is not None else [])
            for g, r in sorted(p.consents.items())
        }
    if p.staff_groups:
        doc["sg"] = {
            g: [int(r.member), stamp(r.at, r.event_id), r.source, r.staff_id]
            for g, r in sorted(p.staff_groups.items())
        }
    if p.orders.ledger:
        doc["o"] = [
            [_pack({key}), _us(o.at), o.total_minor] + ([o.currency] if o.currency else [])
            for key, o in sorted(p.orders.ledger.items())
        ]
    if p.behaviour:
        behaviour = doc["b"] = {}
        for kind, values in p.behaviour.items():  # the hot loop of encode: most values have one day
            flat = behaviour[_KIND_CODE[kind]] = {}
            for value, days in values.items():
                if len(days) == 1:
                    for day, n in days.items():
                        flat[value] = [base - day, n]
                else:
                    flat[value] = _flat_days(days, base)
    if p.seen:
        doc["h"] = [x for day, hashes in sorted(p.seen.items(), reverse=True) for x in (base - day, _pack(hashes))]
    if with_groups and p.groups:
        doc["g"] = sorted(p.groups)
    if stamp.index:
        doc["t"] = stamp.table()
    return doc


def encode(profile: Profile, *, with_groups: bool = True, split: bool = True) -> bytes:
    """The bytes of a profile: plain orjson, or split into head and tail (module docstring).

    Canonical: equal profiles encode to equal bytes, whatever order their dicts
    were filled in, so a caller can skip a store write when the bytes did not change.
    ``with_groups=False`` leaves the memberships out, for a caller that stores them apart.
    ``split=False`` writes the whole document, plain or zlib: the layout that workers
    before the split one read (``CG_PROFILE_LAYOUT=whole``, for a rolling update).
    """
    doc = _to_doc(profile, with_groups)
    if not split:
        return _plain_or_zlib(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    tail = {key: doc.pop(key) for key in _TAIL_KEYS if key in doc}
    head = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    if not tail:
        return head
    return bytes((_SPLIT,)) + _HEAD_LENGTH.pack(len(head)) + head + _plain_or_zlib(
        orjson.dumps(tail, option=orjson.OPT_SORT_KEYS))


def _plain_or_zlib(raw: bytes) -> bytes:
    if len(raw) > COMPRESS_ABOVE:
        packed = zlib.compress(raw, 6)
        if len(packed) + 1 < len(raw):
            return bytes((_ZLIB,)) + packed
    return raw


def _document(data: bytes | memoryview) -> dict[str, Any]:
    """A plain or zlib-compressed document (the first two layouts)."""
    if data[:1] == bytes((_ZLIB,)):
        data = zlib.decompress(data[1:])
    elif data[:1] != bytes((_PLAIN,)):
        raise ProfileDecodeError("not an encoded profile")
    doc = orjson.loads(data)
    if not isinstance(doc, dict):
        raise ProfileDecodeError("not an encoded profile")
    return doc


def _from_doc(doc: dict[str, Any], reads: frozenset[str] | None = None) -> Profile:
    version = doc["v"]
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"bad format version {version!r}")
    if version > CODEC_VERSION:
        raise ProfileDecodeError(f"profile format v{version} is newer than this worker (v{CODEC_VERSION})")
    p = Profile(subject=str(doc["s"]), customer_id=doc.get("c"), newest_day=doc.get("nd"))
    p.visitor_ids = set(doc.get("vi", []))
    p.groups = set(doc.get("g", []))
    everything = reads is None
    wanted = _ALL_PARTS if reads is None else reads
    if "activity" in wanted and "ls" in doc:
        p.last_seen = _ts(doc["ls"])
    if "orders" in wanted:
        ledger: dict[int, OrderRecord] = {}
        for packed, us, total, *currency in doc.get("o", []):
            (key,) = _unpack(packed)
            ledger[key] = OrderRecord(_ts(us), int(total), currency[0] if currency else None)
        p.orders = OrderStats(ledger)
    if wanted.isdisjoint(("profile", "consent", "staff")):
        return p
    stamps = [(_ts(us), str(event_id)) for us, event_id in doc.get("t", [])]
    if "profile" in wanted:
        if "cs" in doc:
            p.customer_stamp = stamps[doc["cs"]]
        for short, name in _NAMES:
            if short in doc:
                value, i = doc[short]
                setattr(p, name, Stamped(value, *stamps[i]))
        if "dj" in doc:
            ordinal, i = doc["dj"]
            p.date_joined = Stamped(date.fromordinal(ordinal), *stamps[i])
    if "consent" in wanted:
        for g, (granted, i, source, *staff) in doc.get("cn", {}).items():
            at, event_id = stamps[i]
            p.consents[g] = ConsentRecord(bool(granted), at, source, staff[0] if staff else None, event_id)
    if "staff" in wanted:
        for g, (member, i, source, staff_id) in doc.get("sg", {}).items():
            at, event_id = stamps[i]
            p.staff_groups[g] = StaffRecord(bool(member), at, source, staff_id, event_id)
    if not everything:
        return p
    base = doc.get("nd", 0)
    for code, values in doc.get("b", {}).items():
        p.behaviour[_CODE_KIND[code]] = {
            value: _days_from_flat(flat, base)
            for value, flat in values.items()
        }
    flat_seen = doc.get("h", [])
    p.seen = {base - off: _unpack(packed) for off, packed in zip(flat_seen[::2], flat_seen[1::2], strict=True)}
    return p


def decode(data: bytes, *, reads: frozenset[str] | None = None) -> Profile:
    """The profile :func:`encode` wrote; :class:`ProfileDecodeError` for anything else.

    ``reads``: only the parts that rules reading these index keys need (see
    :mod:`pipeline.rules.index`), for a caller that evaluates groups reading
    scalar fields only (a back-fill): ``activity`` gives last seen, ``orders``
    the ledger, ``profile`` names, e-mail and join date, ``consent`` and
    ``staff`` their records; subject, IDs, cookies and groups always come.
    Behaviour and dedupe hashes, most of a profile's size and decode time,
    only come with ``reads=None`` (everything). A partial profile is for
    reading: never fold into it or encode it.
    """
    if reads is not None and not reads <= _PART_KEYS:
        reads = None  # a key this decoder does not know: decode everything rather than guess
    try:
        if data[:1] != bytes((_SPLIT,)):
            return _from_doc(_document(data), reads)
        (size,) = _HEAD_LENGTH.unpack_from(data, 1)
        start = 1 + _HEAD_LENGTH.size
        view = memoryview(data)
        doc = _document(view[start:start + size])
        if reads is None:  # behaviour and dedupe hashes are wanted: the tail too
            doc.update(_document(view[start + size:]))
        return _from_doc(doc, reads)
    except ProfileDecodeError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error, zlib.error, struct.error) as exc:
        raise ProfileDecodeError(f"corrupt profile: {exc}") from exc
