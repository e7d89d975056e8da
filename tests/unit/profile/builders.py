"""Valid events for profile tests, built through the real contract (schemas.events).

Every builder validates through ``EVENT_ADAPTER`` so a test can never fold an
event the storefront could not send. IDs default to a fresh ``e<n>``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from pipeline.profile import Profile, ProfilePolicy, fold
from schemas.events import EVENT_ADAPTER, Event

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CUSTOMER = "42"
VISITOR = "vis-1"

_ids = itertools.count()


def fresh_id() -> str:
    return f"e{next(_ids)}"


def make(type_: str, *, at: datetime = T0, event_id: str | None = None,
         customer_id: str | None = None, visitor_id: str | None = VISITOR, **fields: Any) -> Event:
    """Any event; ``at`` may be a datetime or an ISO string."""
    body = {
        "type": type_,
        "event_id": event_id or fresh_id(),
        "occurred_at": at.isoformat() if isinstance(at, datetime) else at,
        "customer_id": customer_id,
        "visitor_id": visitor_id,
        **fields,
    }
    return EVENT_ADAPTER.validate_python({k: v for k, v in body.items() if v is not None})


def product(product_id: str = "SKU-1", brand: str | None = "Sony", category: str | None = "TV",
            price: str | None = None) -> dict[str, Any]:
    return {k: v for k, v in {"product_id": product_id, "brand": brand, "category": category,
                              "price": price}.items() if v is not None}


def view(product_id: str = "SKU-1", brand: str | None = "Sony", category: str | None = "TV", **kw: Any) -> Event:
    return make("view", product=product(product_id, brand, category), **kw)


def search(query: str = "tv", brand: str | None = None, category: str | None = None, **kw: Any) -> Event:
    return make("search", query=query, brand=brand, category=category, **kw)


def basket(product_id: str = "SKU-1", brand: str | None = "Sony", category: str | None = "TV",
           action: str = "add", quantity: int = 1, **kw: Any) -> Event:
    return make("basket", action=action, quantity=quantity,
                product=product(product_id, brand, category), **kw)


def wishlist(product_id: str = "SKU-1", brand: str | None = "Sony", category: str | None = "TV",
             action: str = "add", **kw: Any) -> Event:
    return make("wishlist", action=action, product=product(product_id, brand, category), **kw)


def order(lines: list[tuple[str, str | None, str | None, int]] | None = None, total: str = "10.00",
          currency: str = "GBP", order_id: str = "o-1", **kw: Any) -> Event:
    """``lines`` are (product_id, brand, category, quantity)."""
    lines = lines or [("SKU-1", "Sony", "TV", 1)]
    return make("order", order_id=order_id, total=total, currency=currency, lines=[
        {"product": product(p, b, c), "quantity": q, "unit_price": "1.00"} for p, b, c, q in lines
    ], **kw)


def signup(email: str = "ann@example.com", first_name: str | None = "Ann", last_name: str | None = None,
           date_joined: date | None = None, public_groups: list[str] | None = None,
           customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("signup", customer_id=customer_id, email=email, first_name=first_name,
                last_name=last_name, date_joined=date_joined.isoformat() if date_joined else None,
                public_groups=public_groups or [], **kw)


def identify(visitor_id: str = VISITOR, customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("identify", customer_id=customer_id, visitor_id=visitor_id, **kw)


def consent(group_id: str = "1", granted: bool = True, source: str = "account",
            staff_id: str | None = None, customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("consent", customer_id=customer_id, group_id=group_id, granted=granted,
                source=source, staff_id=staff_id, **kw)


def staff(group_id: str = "7", action: str = "add", source: str = "cms", staff_id: str = "s-1",
          customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("staff_membership", customer_id=customer_id, group_id=group_id, action=action,
                source=source, staff_id=staff_id, **kw)


def updated(customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("customer_updated", customer_id=customer_id, **kw)


def erasure(customer_id: str = CUSTOMER, **kw: Any) -> Event:
    return make("erasure", customer_id=customer_id, requested_by="s-1", **kw)


# --- hypothesis ---------------------------------------------------------------

# Instants on a coarse grid (every 3 h over ~90 days) so that equal timestamps,
# ties broken by event ID, and events on both sides of a short retention window
# all happen often.
instants = st.integers(0, 90 * 8).map(lambda k: T0 + timedelta(hours=3 * k))
brands = st.sampled_from(["Sony", "sony ", "LG", "Stressless", None])
categories = st.sampled_from(["TV", "Fruit", "Chairs", None])
products = st.builds(lambda p, b, c: (p, b, c), st.sampled_from(["SKU-1", "sku-2", "SKU-3", "P-9"]),
                     brands, categories)


@st.composite
def event_bodies(draw: st.DrawFn, customer: bool = True) -> tuple[str, dict[str, Any]]:
    """(type, builder kwargs) for one event; ``customer=False`` gives only cookie events."""
    kinds = ["view", "search", "basket", "wishlist", "order"]
    if customer:
        kinds += ["signup", "consent", "staff", "updated", "identify"]
    kind = draw(st.sampled_from(kinds))
    at = draw(instants)
    p, b, c = draw(products)
    if kind == "view":
        return kind, {"product_id": p, "brand": b, "category": c, "at": at}
    if kind == "search":
        return kind, {"query": draw(st.sampled_from(["tv", "TV ", "sofa", "ｓｏｎｙ"])),
                      "brand": draw(brands), "category": draw(categories), "at": at}
    if kind in ("basket", "wishlist"):
        return kind, {"product_id": p, "brand": b, "category": c, "at": at,
                      "action": draw(st.sampled_from(["add", "add", "remove"]))}
    if kind == "order":
        lines = draw(st.lists(products.map(lambda t: (*t, 1)), min_size=1, max_size=3))
        return kind, {"lines": lines, "at": at, "order_id": draw(st.sampled_from(["o-1", "o-2", "o-3", "o-4"])),
                      "total": str(draw(st.decimals(0, 999, places=3))),
                      "currency": draw(st.sampled_from(["GBP", "GBP", "EUR"]))}
    if kind == "signup":
        return kind, {"at": at, "email": draw(st.sampled_from(["a@x.io", "b@x.io"])),
                      "first_name": draw(st.sampled_from(["Ann", "Bob", None])),
                      "public_groups": draw(st.lists(st.sampled_from(["1", "2", "3"]), max_size=2))}
    if kind == "consent":
        return kind, {"at": at, "group_id": draw(st.sampled_from(["1", "2"])), "granted": draw(st.booleans()),
                      "source": draw(st.sampled_from(["account", "cms", "pos"]))}
    if kind == "staff":
        return kind, {"at": at, "group_id": draw(st.sampled_from(["7", "8"])),
                      "action": draw(st.sampled_from(["add", "remove"]))}
    if kind == "updated":
        return kind, {"at": at, "email": draw(st.sampled_from(["c@x.io", None])),
                      "last_name": draw(st.sampled_from(["Lee", None]))}
    return kind, {"at": at, "visitor_id": draw(st.sampled_from(["vis-1", "vis-2", "vis-3"]))}


_BUILDERS = {"view": view, "search": search, "basket": basket, "wishlist": wishlist, "order": order,
             "signup": signup, "consent": consent, "staff": staff, "updated": updated, "identify": identify}


def build(kind: str, kwargs: dict[str, Any], event_id: str, customer_id: str | None,
          visitor_id: str | None = VISITOR) -> Event:
    kw = dict(kwargs)
    if kind in ("signup", "consent", "staff", "updated", "identify"):
        kw.setdefault("customer_id", customer_id or CUSTOMER)
        if kind != "identify":
            kw.setdefault("visitor_id", visitor_id)
    else:
        kw.setdefault("customer_id", customer_id)
        kw.setdefault("visitor_id", visitor_id)
    return _BUILDERS[kind](event_id=event_id, **kw)


def event_lists(customer: bool = True, min_size: int = 0, max_size: int = 30,
                prefix: str = "e") -> st.SearchStrategy[list[Event]]:
    """Lists of valid events with distinct IDs (``<prefix><n>``), for one subject."""
    cid = CUSTOMER if customer else None
    return st.lists(event_bodies(customer), min_size=min_size, max_size=max_size).map(
        lambda bodies: [build(k, kw, f"{prefix}{i}", cid) for i, (k, kw) in enumerate(bodies)]
    )


def fold_all(profile: Profile, events: list[Event], policy: ProfilePolicy) -> Profile:
    """Fold ``events`` in the given order; returns the profile for chaining."""
    for event in events:
        fold(profile, event, policy)
    return profile
