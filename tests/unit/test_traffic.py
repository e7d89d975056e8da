"""The sample traffic is valid, deterministic and contains the seed's cases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from pipeline.traffic import TrafficShape, generate
from schemas import decode_event

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
SHAPE = TrafficShape(customers=60, visitors=300, catalogue=80, days=450, seed=3)


def test_same_seed_same_events() -> None:
    assert list(generate(SHAPE, now=NOW)) == list(generate(SHAPE, now=NOW))
    assert list(generate(SHAPE, now=NOW)) != list(generate(TrafficShape(seed=4, days=450), now=NOW))


def test_every_event_is_valid_and_unique_and_in_the_past() -> None:
    events = [decode_event(orjson.dumps(e)) for e in generate(SHAPE, now=NOW)]
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.occurred_at <= NOW for e in events)
    kinds = Counter(e.type for e in events)
    assert {"view", "search", "basket", "wishlist", "order", "signup", "identify"} <= set(kinds)
    assert kinds["view"] > kinds["order"]


def test_the_seed_examples_occur() -> None:
    events = list(generate(SHAPE, now=NOW))
    joined = [e["date_joined"] for e in events if e["type"] == "signup"]
    assert any(j > "2025-11-01" for j in joined) and any(j <= "2025-11-01" for j in joined)
    sony = [e for e in events if e.get("product", {}).get("brand") == "Sony" or "sony" in e.get("query", "")]
    assert any(e.get("customer_id") is None for e in sony)  # anonymous guests too


def test_limit() -> None:
    assert len(list(generate(SHAPE, now=NOW, limit=25))) == 25


def test_batched_records_keep_each_keys_events_in_order_and_lose_none() -> None:
    from pipeline.traffic import batched, record_key

    events = list(generate(TrafficShape(customers=30, visitors=80, days=3, seed=5), limit=3000))
    records = list(batched(events, max_per_record=20, open_keys=10))
    assert sum(len(batch) for _, batch in records) == len(events)
    assert all(1 <= len(batch) <= 20 and {record_key(e) for e in batch} == {key} for key, batch in records)
    by_key: dict[str | None, list[str]] = {}
    for key, batch in records:
        by_key.setdefault(key, []).extend(e["event_id"] for e in batch)
    for key, ids in by_key.items():
        assert ids == [e["event_id"] for e in events if record_key(e) == key]
    assert len(records) > len(by_key)  # the flush timer sent some keys more than once
    assert max(len(batch) for _, batch in batched(events, max_per_record=20)) == 20
