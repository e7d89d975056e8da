"""Property: membership does not depend on the order events arrive in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.profile import fold, new_profile
from pipeline.rules import load, memberships
from schemas.events import EVENT_ADAPTER

from .conftest import NOW, POLICY

RULES = load(Path(__file__).parents[3] / "rules_config", POLICY)
BRANDS = ["Sony", "Stressless", "Lego", "Acme"]
CATEGORIES = ["Fruit", "TV", "Chairs"]


@st.composite
def events(draw: st.DrawFn) -> list:
    count = draw(st.integers(1, 12))
    out = []
    for i in range(count):
        when = (NOW - timedelta(days=draw(st.integers(0, 200)), hours=draw(st.integers(0, 23)))).isoformat()
        kind = draw(st.sampled_from(["view", "search", "basket", "wishlist", "order", "signup",
                                     "consent", "staff_membership"]))
        product = {"product_id": f"p{draw(st.integers(0, 3))}", "brand": draw(st.sampled_from(BRANDS)),
                   "category": draw(st.sampled_from(CATEGORIES))}
        body = {"type": kind, "event_id": f"e{i}", "occurred_at": when, "customer_id": "c1",
                "visitor_id": "v1"}
        body.update({
            "view": {"product": product},
            "search": {"query": f"{draw(st.sampled_from(BRANDS))} {draw(st.sampled_from(CATEGORIES))}"},
            "basket": {"action": draw(st.sampled_from(["add", "remove"])), "product": product},
            "wishlist": {"action": "add", "product": product},
            "order": {"order_id": f"o{i}", "total": str(draw(st.integers(1, 2000))), "currency": "GBP",
                      "lines": [{"product": product, "quantity": 1, "unit_price": "1"}]},
            "signup": {"email": f"x{i}@example.com", "date_joined": when[:10], "public_groups": ["1"]},
            "consent": {"group_id": "1", "granted": draw(st.booleans()), "source": "account"},
            "staff_membership": {"group_id": "7", "action": draw(st.sampled_from(["add", "remove"])),
                                 "source": "pos", "staff_id": "s1"},
        }[kind])
        out.append(EVENT_ADAPTER.validate_python(body))
    return out


@settings(max_examples=150, deadline=None)
@given(events(), st.randoms(use_true_random=False), st.booleans())
def test_any_order_and_duplicates_give_the_same_groups(batch: list, rng, duplicate: bool) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(batch) + (list(batch[: len(batch) // 2]) if duplicate else [])
    rng.shuffle(shuffled)
    a, b = new_profile("c:c1"), new_profile("c:c1")
    for e in batch:
        fold(a, e, POLICY)
    for e in shuffled:
        fold(b, e, POLICY)
    today = POLICY.day_of(NOW)
    groups = list(RULES.groups.values())
    assert memberships(groups, a, today) == memberships(groups, b, today)
