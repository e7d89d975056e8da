"""Storefront traffic for the fault suite: logins, hand-overs, merges, duplicates, orders.

Shaped to exercise what loses events when anything does: many cookies log in
(their anonymous history is handed over to the customer, whose profile lives
on another partition), customers log in from several cookies (merges), events
are re-sent with the same ID (duplicates), a share is not keyed by cookie (the
re-keying hop), and orders, signups and opt-ins move spend and consent groups.
Deterministic for a seed, so a faulty run and its reference read the same bytes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

BRANDS = ["Sony", "Stressless", "Lego", "Acme", "Fruit Co", "Dinotoys"]
Record = tuple[bytes | None, bytes]  # (key, value) as produced to the events topic


def traffic(count: int, *, seed: int = 11, cookies: int = 3000, customers: int = 800,
            now: datetime | None = None) -> list[Record]:
    """``count`` records: about 11% logins, 3% duplicates, 5% not keyed by cookie."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    owner = {f"ck{i}": f"c{rng.randrange(customers)}" for i in range(cookies) if rng.random() < 0.6}
    logged_in: set[str] = set()
    signed_up: set[str] = set()
    records: list[Record] = []
    sent: list[Record] = []
    for i in range(count):
        if sent and rng.random() < 0.03:
            records.append(rng.choice(sent))  # a storefront retry: same bytes, same event ID
            continue
        when = (now - timedelta(days=rng.uniform(0.01, 100))).isoformat()
        base: dict[str, Any] = {"event_id": f"f{seed}-{i}", "occurred_at": when}
        cookie = f"ck{rng.randrange(cookies)}"
        customer = owner.get(cookie)
        roll = rng.random()
        if customer and cookie not in logged_in and roll < 0.25:
            event = {"type": "identify", "visitor_id": cookie, "customer_id": customer, **base}
            logged_in.add(cookie)
        elif customer and cookie in logged_in and roll < 0.06 and customer not in signed_up:
            event = {"type": "signup", "customer_id": customer, "visitor_id": cookie,
                     "email": f"{customer}@example.com", "first_name": f"F{customer}",
                     "date_joined": rng.choice(["2025-10-01", "2025-11-15"]),
                     "public_groups": rng.choice([[], ["1"], ["Newsletter", "Lego"]]), **base}
            signed_up.add(customer)
        elif customer and cookie in logged_in and roll < 0.12:
            total = str(rng.randrange(5, 900))
            event = {"type": "order", "customer_id": customer, "visitor_id": cookie, "order_id": f"o{seed}-{i}",
                     "total": total, "currency": "GBP", **base,
                     "lines": [{"product": _product(rng), "quantity": 1, "unit_price": total}]}
        elif customer and cookie in logged_in and roll < 0.14:
            event = {"type": "consent", "customer_id": customer, "group_id": rng.choice(["1", "2", "3"]),
                     "granted": rng.random() < 0.7, "source": "account", **base}
        else:
            kind = rng.choice(["view", "view", "view", "search", "basket", "wishlist"])
            product = _product(rng)
            body = {"view": {"product": product}, "search": {"query": f"{product['brand']} deals"},
                    "basket": {"action": "add", "product": product},
                    "wishlist": {"action": "add", "product": product}}[kind]
            event = {"type": kind, "visitor_id": cookie, **base, **body}
            if cookie in logged_in and rng.random() < 0.7:
                event["customer_id"] = customer
        key = _key(event, rng)
        record = (key, orjson.dumps(event))
        records.append(record)
        sent.append(record)
    return records


def _product(rng: random.Random) -> dict[str, str]:
    brand = rng.choice(BRANDS)
    return {"product_id": f"p{rng.randrange(60)}", "brand": brand,
            "category": "Fruit" if brand == "Fruit Co" else rng.choice(["Home", "TV", "Toys"]),
            "price": str(rng.randrange(1, 700))}


def _key(event: dict[str, Any], rng: random.Random) -> bytes | None:
    """By cookie, as the README asks of storefronts; 5% unkeyed (the re-keying hop)."""
    if rng.random() < 0.05:
        return None
    subject = event.get("visitor_id") or event.get("customer_id")
    return str(subject).encode()


def batch_records(records: list[Record], per_record: int = 20, open_keys: int = 200) -> list[Record]:
    """The same events as batched records (JSON arrays), as a storefront's collector sends them:
    per cookie, in order, up to ``per_record`` each; a key waiting while ``open_keys`` others
    are is sent early (the collector's flush timer). Unkeyed records stay single events."""
    out: list[Record] = []
    waiting: dict[bytes, list[bytes]] = {}

    def flush(key: bytes) -> None:
        out.append((key, b"[" + b",".join(waiting.pop(key)) + b"]"))

    for key, value in records:
        if key is None:
            out.append((key, value))
            continue
        waiting.setdefault(key, []).append(value)
        if len(waiting[key]) >= per_record:
            flush(key)
        elif len(waiting) > open_keys:
            flush(next(iter(waiting)))
    for key in list(waiting):
        flush(key)
    return out
