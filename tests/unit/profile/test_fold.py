"""fold(): what each event records, dedupe, retention and the queries rules use."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.profile import ProfilePolicy, fold, new_profile, normalise, subject_for

from .builders import (
    T0,
    basket,
    consent,
    erasure,
    identify,
    order,
    search,
    signup,
    staff,
    updated,
    view,
    wishlist,
)

POLICY = ProfilePolicy()
DAY0 = POLICY.day_of(T0)


def folded(*events, subject: str = "c:42", policy: ProfilePolicy = POLICY):
    profile = new_profile(subject)
    for event in events:
        fold(profile, event, policy)
    return profile


# --- subjects ------------------------------------------------------------------


def test_subjects() -> None:
    assert subject_for("42", "vis-1") == "c:42"
    assert subject_for(None, "vis-1") == "v:vis-1"
    with pytest.raises(ValueError):
        subject_for(None, None)
    customer, visitor = new_profile("c:42"), new_profile("v:vis-1")
    assert (customer.customer_id, customer.registered, customer.is_anonymous) == ("42", True, False)
    assert (visitor.customer_id, visitor.visitor_ids, visitor.is_anonymous) == (None, {"vis-1"}, True)
    for bad in ("42", "c:", "x:1"):
        with pytest.raises(ValueError):
            new_profile(bad)


# --- normalise -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  SONY  ", "sony"), ("Sony\u3000 Bravia\n", "sony bravia"), ("ＳＯＮＹ", "sony"),
     ("Straße", "strasse"), ("ﬁsh", "fish")],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected
    assert normalise(expected) == expected


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    # count() normalises its argument, so a stored (normalised) value must map to itself.
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once


# --- behaviour -----------------------------------------------------------------


def test_view_counts_brand_category_and_product_on_the_local_day() -> None:
    p = folded(view("SKU-1", "Sony", "TV"), view("SKU-2", " SONY ", None))
    assert p.count("viewed", "brand", "sony") == 2
    assert p.count("viewed", "brand", "  Sony") == 2  # the query value is normalised too
    assert p.count("viewed", "category", "tv") == 1
    assert dict(p.values("viewed", "product")) == {"sku-1": {DAY0: 1}, "sku-2": {DAY0: 1}}
    assert p.total("viewed", "product") == 2
    assert p.count("viewed", "brand", "lg") == 0
    assert p.count("searched", "brand", "sony") == 0


def test_search_counts_the_query_and_chosen_facets() -> None:
    p = folded(search("  Sony  TV ", brand="Sony", category=None), search("sony tv"))
    assert p.count("searched", "query", "sony tv") == 2
    assert p.count("searched", "brand", "sony") == 1
    assert ("searched", "category") not in p.behaviour


def test_basket_and_wishlist_count_adds_not_removes_nor_quantities() -> None:
    p = folded(basket(quantity=5), basket(action="remove"), wishlist(), wishlist(action="remove"))
    assert p.count("basket", "product", "sku-1") == 1
    assert p.count("wishlist", "brand", "sony") == 1
    assert len(p.seen[DAY0]) == 2  # removes are not counted events, so not remembered either


def test_order_counts_each_distinct_value_once_and_fills_the_ledger() -> None:
    lines = [("SKU-1", "Sony", "TV", 3), ("SKU-2", "Sony", "Audio", 1), ("SKU-1", "Sony", "TV", 1)]
    p = folded(order(lines, total="100.005", order_id="o-1"),
               order(total="20", currency="EUR", order_id="o-2", at=T0 + timedelta(days=1)),
               order(total="50.00", order_id="o-3", at=T0 + timedelta(days=2)))
    assert p.count("ordered", "brand", "sony") == 3
    assert p.count("ordered", "product", "sku-1") == 3
    assert p.count("ordered", "category", "audio") == 1
    stats = p.orders
    assert (stats.count, stats.spend_orders, stats.total_minor) == (3, 2, 10000 + 5000)
    assert stats.other_currencies == {"EUR": 1}
    assert stats.first_at == T0 and stats.last_at == T0 + timedelta(days=2)
    assert p.average_spend_minor == 7500
    assert [o.total_minor for o in stats.between(T0 + timedelta(days=1))] == [2000, 5000]


def test_average_spend_rounds_half_even_and_is_none_without_shop_currency_orders() -> None:
    assert folded(view()).average_spend_minor is None
    assert folded(order(total="1", currency="USD")).average_spend_minor is None
    p = folded(order(total="0.01", order_id="a"), order(total="0.02", order_id="b"))
    assert p.average_spend_minor == 2  # 1.5 -> 2
    p = folded(order(total="0.02", order_id="a"), order(total="0.03", order_id="b"))
    assert p.average_spend_minor == 2  # 2.5 -> 2


def test_an_order_resent_with_a_new_event_id_is_one_order() -> None:
    p = folded(order(order_id="o-1", total="10"), order(order_id="o-1", total="10"))
    assert p.orders.count == 1
    assert p.count("ordered", "product", "sku-1") == 2  # behaviour dedupes by event ID only


def test_count_window_is_inclusive_local_days() -> None:
    p = folded(*(view(at=T0 + timedelta(days=k)) for k in range(10)))
    assert p.count("viewed", "brand", "sony", DAY0 + 2, DAY0 + 4) == 3
    assert p.count("viewed", "brand", "sony", first_day=DAY0 + 8) == 2
    assert p.count("viewed", "brand", "sony", last_day=DAY0) == 1
    assert p.total("viewed", "brand", DAY0 + 9, DAY0 + 20) == 1
    with pytest.raises(ValueError):
        p.count("clicked", "brand", "sony")  # type: ignore[arg-type]


def test_values_is_read_only() -> None:
    p = folded(view())
    values = p.values("viewed", "brand")
    with pytest.raises(TypeError):
        values["sony"][DAY0] = 99  # type: ignore[index]
    with pytest.raises(TypeError):
        values["lg"] = {}  # type: ignore[index]
    assert p.count("viewed", "brand", "sony") == 1
    assert dict(p.values("wishlist", "brand")) == {}


# --- dedupe and return value ------------------------------------------------------


def test_duplicates_are_ignored_and_return_false() -> None:
    p = new_profile("c:42")
    for event in (view(), order(), signup(), consent(), staff(), identify(visitor_id="vis-9")):
        assert fold(p, event, POLICY) is True
        before = copy.deepcopy(p)
        assert fold(p, event, POLICY) is False
        assert p == before


def test_erasure_returns_true_and_changes_nothing() -> None:
    p = folded(view())
    before = copy.deepcopy(p)
    assert fold(p, erasure(), POLICY) is True
    assert p == before


# --- registers --------------------------------------------------------------------


def test_signup_sets_identity_date_joined_and_registration_consents() -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July: the local date is the join date.
    at = datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    e = signup(public_groups=["1", "3"], first_name="Ann", last_name=None, at=at)
    p = folded(e)
    assert p.email.value == "ann@example.com" and p.email.event_id == e.event_id
    assert p.first_name.value == "Ann" and p.last_name is None
    assert p.date_joined.value == date(2025, 7, 1)
    assert p.consented_groups == {"1", "3"}
    assert p.consents["1"].source == "registration" and p.consents["1"].staff_id is None
    assert folded(signup(date_joined=date(2020, 1, 2))).date_joined.value == date(2020, 1, 2)


def test_registers_are_last_writer_wins_by_time_then_event_id() -> None:
    late = updated(email="new@example.com", at=T0 + timedelta(days=1))
    early = signup(email="old@example.com", first_name="Ann", at=T0)
    for events in ((early, late), (late, early)):
        p = folded(*events)
        assert p.email.value == "new@example.com"
        assert p.first_name.value == "Ann"  # an update without a name keeps the name
    tie_a = updated(email="a@example.com", event_id="a")
    tie_b = updated(email="b@example.com", event_id="b")
    assert folded(tie_a, tie_b).email.value == folded(tie_b, tie_a).email.value == "b@example.com"


def test_consent_and_staff_membership_follow_the_latest_record() -> None:
    p = folded(
        signup(public_groups=["1"]),
        consent("1", granted=False, source="cms", staff_id="s-2", at=T0 + timedelta(hours=1)),
        consent("2", granted=True, at=T0 + timedelta(hours=2)),
        staff("7", "add", at=T0), staff("7", "remove", source="pos", at=T0 + timedelta(hours=1)),
        staff("8", "add"),
    )
    assert p.consented_groups == {"2"}
    assert (p.consents["1"].granted, p.consents["1"].staff_id, p.consents["1"].source) == (False, "s-2", "cms")
    assert p.staff_group_ids == {"8"}
    assert p.staff_groups["7"].source == "pos"


def test_identify_adds_the_cookie_and_visitor_ids_come_from_every_event() -> None:
    p = folded(identify(visitor_id="vis-2"), view(visitor_id="vis-3"))
    assert p.visitor_ids == {"vis-2", "vis-3"}


def test_a_cookie_profile_remembers_the_last_customer_it_was_seen_as() -> None:
    p = folded(identify(customer_id="7", at=T0 + timedelta(hours=1)), identify(customer_id="8"),
               subject="v:vis-1")
    assert p.customer_id == "7" and p.registered
    c = folded(identify(customer_id="99"))  # a c: profile's customer is its subject
    assert c.customer_id == "42"


def test_last_seen_moves_with_the_subjects_own_activity_only() -> None:
    p = folded(view(at=T0), staff(at=T0 + timedelta(days=3)), consent(at=T0 + timedelta(days=4)))
    assert p.last_seen == T0
    assert p.newest_day == DAY0 + 4  # staff actions still move the retention high-water mark
    fold(p, identify(at=T0 + timedelta(days=5)), POLICY)
    assert p.last_seen == T0 + timedelta(days=5)


# --- retention --------------------------------------------------------------------


def test_behaviour_older_than_the_window_is_dropped_and_not_counted() -> None:
    policy = ProfilePolicy(retention_days=10)
    p = folded(view("old", at=T0), subject="v:vis-1", policy=policy)
    assert fold(p, view("new", at=T0 + timedelta(days=10)), policy)
    assert p.count("viewed", "product", "old") == 1  # day 0 is exactly newest_day - 10: kept
    fold(p, view("newer", at=T0 + timedelta(days=11)), policy)
    assert p.count("viewed", "product", "old") == 0
    assert DAY0 not in p.seen
    late = view("late", at=T0 + timedelta(hours=1))
    assert fold(p, late, policy) is False  # too old to count, and brings nothing new
    assert p.count("viewed", "product", "late") == 0


def test_old_events_still_update_registers_and_the_order_ledger() -> None:
    policy = ProfilePolicy(retention_days=10)
    p = folded(view(at=T0 + timedelta(days=100)), policy=policy)
    assert fold(p, signup(public_groups=["1"], at=T0), policy)
    assert fold(p, order(order_id="o-old", total="5", at=T0), policy)
    assert p.consented_groups == {"1"} and p.date_joined is not None
    assert p.orders.count == 1 and p.orders.first_at == T0
    assert p.count("ordered", "product", "sku-1") == 0  # its behaviour is outside the window
