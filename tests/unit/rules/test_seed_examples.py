"""The two rules of the seed's user guide, exactly as staff type them, at their edges."""

from __future__ import annotations

import pytest

from pipeline.rules import matches

from .conftest import at, event, group, order, profile_of, signup, today, view

SIGNED_UP_NO_ORDERS = (["and", "datejoined", "greater than", "01/11/2025"],
                       ["and", "orders", "equals", 0])
SONY = tuple({"connector": "or", "field": "brand", "operator": op, "value": "Sony"}
             for op in ("basket", "viewed", "searched", "wishlist"))


@pytest.mark.parametrize(("joined", "member"), [
    ("31/10/2025", False), ("01/11/2025", False),  # "greater than" is strictly after
    ("02/11/2025", True), ("19/11/2025", True),
])
def test_joined_after_first_november_boundary(joined: str, member: bool) -> None:
    assert matches(group(*SIGNED_UP_NO_ORDERS), profile_of(signup(joined)), today()) is member


def test_an_order_takes_a_new_customer_out() -> None:
    g = group(*SIGNED_UP_NO_ORDERS)
    assert matches(g, profile_of(signup("05/11/2025")), today())
    assert not matches(g, profile_of(signup("05/11/2025"), order("10", at("10/11/2025"))), today())


def test_anonymous_visitors_have_no_join_date() -> None:
    assert not matches(group(*SIGNED_UP_NO_ORDERS), profile_of(view()), today())


@pytest.mark.parametrize("make", [
    lambda: event("basket", action="add", product={"product_id": "p", "brand": "Sony"}),
    lambda: view(brand="Sony"),
    lambda: event("search", query="Sony"),
    lambda: event("search", query="cheap SONY headphones"),
    lambda: event("search", query="headphones", brand="Sony"),
    lambda: event("wishlist", action="add", product={"product_id": "p", "brand": "sony"}),
], ids=["basket", "viewed", "searched", "searched-in-text", "searched-facet", "wishlist"])
def test_sony_interest_by_each_action(make) -> None:  # type: ignore[no-untyped-def]
    assert matches(group(*SONY), profile_of(make()), today())


@pytest.mark.parametrize("make", [
    lambda: view(brand="Samsung"),
    lambda: event("search", query="sonya dress"),  # not the word "sony"
    lambda: event("basket", action="remove", product={"product_id": "p", "brand": "Sony"}),
    lambda: order("10", brand="Sony"),  # ordering is not one of the four actions
], ids=["other-brand", "substring", "basket-remove", "ordered"])
def test_sony_interest_needs_one_of_the_four_actions(make) -> None:  # type: ignore[no-untyped-def]
    assert not matches(group(*SONY), profile_of(make()), today())


def test_anonymous_guests_join_sony_interest() -> None:
    profile = profile_of(view(brand="Sony", visitor_id="cookie-9"))
    assert profile.is_anonymous
    assert matches(group(*SONY), profile, today())
