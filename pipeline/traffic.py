"""Realistic storefront traffic, for the demo and the benchmarks.

Deterministic for a seed: the same call gives the same events (and event IDs),
so replaying the demo twice shows that duplicates change nothing. Brands,
categories and products follow a Zipf-like popularity curve; visitors browse
in sessions of views and searches, some add to basket or wishlist, some buy;
some register (before and after 1 November 2025, the seed's example) and log
in from their cookie, merging their anonymous history.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

BRANDS = ["Sony", "Samsung", "Stressless", "Lego", "Apple", "Bosch", "Dyson", "Nike", "Adidas",
          "Panasonic", "Philips", "Le Creuset", "Joseph Joseph", "Orchard Fresh", "Tropical Farms",
          "Canon", "Nikon", "Garmin", "Kenwood", "Smeg"]
CATEGORIES = ["TV", "Audio", "Cameras", "Chairs", "Sofas", "Toys", "Kitchen", "Fruit", "Exotic Fruit",
              "Shoes", "Sportswear", "Phones", "Laptops", "Watches", "Lighting"]
SEARCH_WORDS = ["cheap", "best", "deals", "new", "black", "small", "large", "gift", "sale", "2025"]


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    weights = [1 / (rank ** s) for rank in range(1, n + 1)]
    return list(itertools.accumulate(weights))


@dataclass(frozen=True)
class Catalogue:
    products: list[dict[str, Any]]
    cumulative: list[float]

    @classmethod
    def build(cls, rng: random.Random, size: int) -> Catalogue:
        products = []
        for i in range(size):
            brand = BRANDS[min(int(rng.paretovariate(1.2)) - 1, len(BRANDS) - 1)]
            category = rng.choice(CATEGORIES)
            if brand in ("Orchard Fresh", "Tropical Farms"):
                category = rng.choice(["Fruit", "Exotic Fruit"])
            products.append({"product_id": f"P{i:05d}", "brand": brand, "category": category,
                             "price": f"{rng.choice([5, 12, 25, 49, 99, 199, 499, 899, 1499])}.00"})
        return cls(products, _zipf_weights(size))

    def pick(self, rng: random.Random) -> dict[str, Any]:
        point = rng.random() * self.cumulative[-1]
        return self.products[bisect.bisect_left(self.cumulative, point)]


@dataclass(frozen=True)
class TrafficShape:
    customers: int = 500
    visitors: int = 3000
    catalogue: int = 400
    days: int = 120
    seed: int = 2025
    registered_share: float = 0.3  # of sessions that belong to a logged-in customer
    # The demo's extras for the Customer Groups page: opt-ins to every public group (at
    # registration, later on the account page, some taken back), staff adding customers to the
    # private groups at the till or in the CMS, and varied names. Drawn from a second random
    # stream, so with it off (the bench) the events are exactly as before.
    contact: bool = False


FIRST_NAMES = ["Johnny", "Carmen", "Dizzy", "Ace", "Sugar", "Zander", "Priya", "Łukasz", "Aoife", "Mei", "Omar",
               "Siobhan", "Kwame", "Ingrid", "Mateo", "Yuki"]
LAST_NAMES = ["Rico", "Diaz", "Flores", "Levy", "Watkins", "Barcalow", "Patel", "Nowak", "Byrne", "Chen", "Haddad",
              "O'Neill", "Mensah", "Larsen", "García", "Tanaka"]
#: (group, share of sign-ups that tick it): Newsletter is drawn as before; Dinosaurs and Lego are the extras.
EXTRA_OPT_INS = (("2", 0.08), ("3", 0.12))
PUBLIC_GROUPS = ("1", "2", "3")
PRIVATE_GROUPS = ("7", "8")
STAFF = ("till-1", "till-2", "till-3", "cms-mike", "cms-anna")


def generate(shape: TrafficShape, *, now: datetime | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Events session by session (sessions in time order), ending at ``now``; at most ``limit``."""
    rng = random.Random(shape.seed)
    extra = random.Random(shape.seed * 7919 + 1)  # the contact extras' own stream
    now = now or datetime.now(UTC)
    start = now - timedelta(days=shape.days)
    catalogue = Catalogue.build(rng, shape.catalogue)
    ids = itertools.count()
    produced = 0

    def event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "event_id": f"demo-{shape.seed}-{next(ids)}", "occurred_at": at.isoformat(),
                **{k: v for k, v in fields.items() if v is not None}}

    # Customers register at a time in the window, some before the seed's 1 November 2025.
    signups: dict[str, datetime] = {}
    for c in range(shape.customers):
        signups[f"C{c:05d}"] = start + timedelta(seconds=rng.uniform(0, shape.days * 86400 * 0.8))
    cookies = {customer: f"ck-c{idx}" for idx, customer in enumerate(signups)}
    customer_ids = list(signups)
    pending_signup = dict(signups)

    sessions = shape.visitors + shape.customers * 3
    times = sorted(start + timedelta(seconds=rng.uniform(0, shape.days * 86400)) for _ in range(sessions))
    for at in times:
        registered = rng.random() < shape.registered_share and signups
        customer = rng.choice(customer_ids) if registered else None
        if customer and signups[customer] > at:
            customer = None
        visitor = cookies[customer] if customer else f"ck-{rng.randrange(shape.visitors)}"
        out: list[dict[str, Any]] = []
        if customer and customer in pending_signup:
            joined = pending_signup.pop(customer)
            ticked = ["1"] if rng.random() < 0.4 else []
            first, last = "Sam", customer
            if shape.contact:
                ticked += [gid for gid, share in EXTRA_OPT_INS if extra.random() < share]
                first, last = extra.choice(FIRST_NAMES), extra.choice(LAST_NAMES)
            out.append(event("signup", joined, visitor_id=visitor, customer_id=customer,
                             email=f"{customer.lower()}@example.com", first_name=first, last_name=last,
                             date_joined=joined.date().isoformat(), public_groups=ticked))
        elif customer:
            out.append(event("identify", at, visitor_id=visitor, customer_id=customer))
            if shape.contact:
                out += _contact_events(extra, event, at, customer, visitor)
        clock = at
        basket: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 8)):
            clock += timedelta(seconds=rng.uniform(5, 120))
            roll = rng.random()
            product = catalogue.pick(rng)
            if roll < 0.15:
                words = [product["brand"].lower()] if rng.random() < 0.6 else [product["category"].lower()]
                out.append(event("search", clock, visitor_id=visitor, customer_id=customer,
                                 query=" ".join(words + rng.sample(SEARCH_WORDS, rng.randint(0, 2)))))
            elif roll < 0.25:
                basket.append(product)
                out.append(event("basket", clock, visitor_id=visitor, customer_id=customer, action="add",
                                 product=product, quantity=rng.randint(1, 2)))
            elif roll < 0.30:
                out.append(event("wishlist", clock, visitor_id=visitor, customer_id=customer, action="add",
                                 product=product))
            else:
                out.append(event("view", clock, visitor_id=visitor, customer_id=customer, product=product))
        if basket and customer and rng.random() < 0.5:
            clock += timedelta(seconds=rng.uniform(30, 300))
            lines = [{"product": p, "quantity": 1, "unit_price": p["price"]} for p in basket]
            total = f"{sum(float(p['price']) for p in basket):.2f}"
            out.append(event("order", clock, visitor_id=visitor, customer_id=customer,
                             order_id=f"ORD-{shape.seed}-{next(ids)}", lines=lines, total=total, currency="GBP"))
        for item in out:
            if datetime.fromisoformat(item["occurred_at"]) > now:
                continue
            yield item
            produced += 1
            if limit is not None and produced >= limit:
                return


def _contact_events(rng: random.Random, event: Any, at: datetime, customer: str,
                    visitor: str) -> list[dict[str, Any]]:
    """Now and then a logged-in customer opts in or out on the account page, or staff add them by hand."""
    roll = rng.random()
    at = at + timedelta(seconds=2)
    if roll < 0.06:  # the account page: mostly opt-ins, some taken back
        return [event("consent", at, visitor_id=visitor, customer_id=customer, group_id=rng.choice(PUBLIC_GROUPS),
                      granted=rng.random() < 0.8, source="account")]
    if roll < 0.075:  # consent given in person, recorded by staff
        source = rng.choice(["cms", "pos"])
        return [event("consent", at, customer_id=customer, group_id=rng.choice(PUBLIC_GROUPS), granted=True,
                      source=source, staff_id=rng.choice(STAFF))]
    if roll < 0.135:  # at the till or in the CMS: "post me the catalogue", "you may phone me"
        source = rng.choice(["pos", "pos", "cms"])
        return [event("staff_membership", at, customer_id=customer, group_id=rng.choice(PRIVATE_GROUPS),
                      action="add" if rng.random() < 0.9 else "remove", source=source, staff_id=rng.choice(STAFF))]
    return []


def record_key(event: dict[str, Any]) -> str | None:
    """The key a storefront gives an event's record: its cookie, else its customer ID."""
    key = event.get("visitor_id") or event.get("customer_id")
    return str(key) if key else None


def batched(events: Iterable[dict[str, Any]], max_per_record: int = 20,
            open_keys: int = 1000) -> Iterator[tuple[str | None, list[dict[str, Any]]]]:
    """(key, events) records as a storefront's collector flushes them: per key, in order.

    A key's buffer is sent when it holds ``max_per_record`` events, or when more
    than ``open_keys`` keys are waiting (the one waiting longest goes: a
    collector's flush timer), and whatever is left at the end.
    """
    waiting: dict[str | None, list[dict[str, Any]]] = {}
    for event in events:
        key = record_key(event)
        buffer = waiting.setdefault(key, [])
        buffer.append(event)
        if len(buffer) >= max_per_record:
            yield key, waiting.pop(key)
        elif len(waiting) > open_keys:
            oldest = next(iter(waiting))
            yield oldest, waiting.pop(oldest)
    yield from waiting.items()
