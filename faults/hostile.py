"""Hostile input: records no storefront should send, each of which must be dead-lettered with a
reason or refused by the broker at produce time, never dropped silently, never stalling anyone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

from faults.traffic import Record

TWO_MB = 2 * 1024 * 1024


def hostile(count: int, *, seed: int = 5, cookies: int = 3000) -> list[Record]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    makers = [_random_bytes, _truncated, _deeply_nested, _wrong_types, _huge_string, _nan, _non_utf8,
              _negative_price, _formula_ids, _future, _unknown_type, _not_an_object, _empty, _two_mb,
              _unknown_group, _year_one, _epoch_number]
    records: list[Record] = []
    for i in range(count):
        make = makers[i % len(makers)]
        key = f"ck{rng.randrange(cookies)}".encode() if rng.random() < 0.7 else None
        records.append((key, make(rng, i, now)))
    return records


def _valid(i: int, now: datetime) -> dict[str, object]:
    return {"type": "view", "event_id": f"h-{i}", "occurred_at": (now - timedelta(hours=1)).isoformat(),
            "visitor_id": f"hck{i}", "product": {"product_id": "p1", "brand": "Sony"}}


def _random_bytes(rng: random.Random, i: int, now: datetime) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))


def _truncated(rng: random.Random, i: int, now: datetime) -> bytes:
    raw = orjson.dumps(_valid(i, now))
    return raw[:rng.randrange(1, len(raw) - 1)]


def _deeply_nested(rng: random.Random, i: int, now: datetime) -> bytes:
    depth = rng.randrange(2000, 20000)
    return b'{"type":"view","x":' + b"[" * depth + b"]" * depth + b"}"


def _wrong_types(rng: random.Random, i: int, now: datetime) -> bytes:
    event = _valid(i, now)
    event[rng.choice(["event_id", "visitor_id", "product"])] = rng.choice([42, 3.5, True, ["a"], {"x": 1}])
    return orjson.dumps(event)


def _huge_string(rng: random.Random, i: int, now: datetime) -> bytes:
    event = _valid(i, now) | {"type": "search", "query": "q" * rng.randrange(100_000, 440_000)}
    return orjson.dumps(event)


def _nan(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now))[:-2] + b',"price":NaN}}'


def _non_utf8(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now)).replace(b"Sony", b"S\xff\xfeny")


def _negative_price(rng: random.Random, i: int, now: datetime) -> bytes:
    event = _valid(i, now)
    event["product"] = {"product_id": "p1", "brand": "Sony", "price": "-12.50"}
    return orjson.dumps(event)


def _formula_ids(rng: random.Random, i: int, now: datetime) -> bytes:
    event = _valid(i, now) | {"visitor_id": "=cmd|' /C calc'!A0", "event_id": "=HYPERLINK(\"http://x\")"}
    return orjson.dumps(event)


def _future(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now) | {"occurred_at": (now + timedelta(days=3)).isoformat()})


def _unknown_type(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now) | {"type": "teleport"})


def _not_an_object(rng: random.Random, i: int, now: datetime) -> bytes:
    return rng.choice([b"[1,2,3]", b'"view"', b"42", b"null", b"true"])


def _empty(rng: random.Random, i: int, now: datetime) -> bytes:
    return b""


def _two_mb(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now) | {"padding": "x" * TWO_MB})


def _unknown_group(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps({"type": "consent", "event_id": f"h-{i}", "occurred_at": (now - timedelta(hours=1)).isoformat(),
                         "customer_id": f"hc{i}", "group_id": "does-not-exist", "granted": True, "source": "account"})


def _year_one(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now) | {"occurred_at": "0001-01-01T00:00:00+00:00"})


def _epoch_number(rng: random.Random, i: int, now: datetime) -> bytes:
    return orjson.dumps(_valid(i, now) | {"occurred_at": int(now.timestamp())})
