"""Properties of fold that the pipeline relies on: order does not matter, redelivery
does not count twice, and memory stays bounded whatever a subject does."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipeline.profile import ProfilePolicy, fold, new_profile, prune

from .builders import T0, event_lists, fold_all, identify, order, view

# Events span ~90 days: a 30-day window makes pruning and late rejection common.
SHORT = ProfilePolicy(retention_days=30)
POLICIES = st.sampled_from([SHORT, ProfilePolicy(), ProfilePolicy(timezone="America/New_York", currency="EUR")])


@given(events=event_lists(max_size=40), policy=POLICIES, seed=st.integers())
def test_fold_is_order_independent(events, policy, seed) -> None:
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    assert fold_all(new_profile("c:42"), events, policy) == fold_all(new_profile("c:42"), shuffled, policy)


@given(events=event_lists(customer=False, max_size=40), seed=st.integers())
def test_fold_is_order_independent_for_cookie_profiles(events, seed) -> None:
    shuffled = events[::-1]
    random.Random(seed).shuffle(shuffled)
    assert fold_all(new_profile("v:vis-1"), events, SHORT) == fold_all(new_profile("v:vis-1"), shuffled, SHORT)


@given(events=event_lists(min_size=1, max_size=30), policy=POLICIES, data=st.data())
def test_redelivery_in_any_order_counts_once(events, policy, data) -> None:
    once = fold_all(new_profile("c:42"), events, policy)
    again = data.draw(st.lists(st.sampled_from(events), max_size=30))
    delivered = data.draw(st.permutations(events + again))
    assert fold_all(new_profile("c:42"), delivered, policy) == once


@given(events=event_lists(min_size=1, max_size=30), policy=POLICIES, data=st.data())
def test_folding_an_event_twice_changes_nothing_the_second_time(events, policy, data) -> None:
    profile = fold_all(new_profile("c:42"), events, policy)
    event = data.draw(st.sampled_from(events))
    before = copy.deepcopy(profile)
    assert fold(profile, event, policy) is False
    assert profile == before


@given(events=event_lists(max_size=30), policy=POLICIES)
def test_prune_after_fold_is_a_no_op(events, policy) -> None:
    profile = fold_all(new_profile("c:42"), events, policy)
    before = copy.deepcopy(profile)
    prune(profile, policy)
    assert profile == before


# --- the key cap ------------------------------------------------------------------
# When more than max_keys_per_kind values are live, the set of values kept (with
# each one's newest day) is still order-independent, but a value evicted and seen
# again restarts its counts, so exact counts are only a lower bound. That is why
# the equality test above uses caps that never bind, and this one checks the set.


def _kept(profile) -> dict:
    return {kind: {v: max(days) for v, days in values.items()} for kind, values in profile.behaviour.items()}


def _top(reference, cap: int) -> dict:
    return {
        kind: dict(sorted(values.items(), key=lambda kv: (kv[1], kv[0]))[-cap:])
        for kind, values in _kept(reference).items()
    }


@given(events=event_lists(customer=False, max_size=40), cap=st.integers(1, 3), seed=st.integers())
def test_with_the_cap_binding_the_kept_values_are_still_order_independent(events, cap, seed) -> None:
    policy = ProfilePolicy(retention_days=30, max_keys_per_kind=cap)
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    a = fold_all(new_profile("v:vis-1"), events, policy)
    b = fold_all(new_profile("v:vis-1"), shuffled, policy)
    uncapped = fold_all(new_profile("v:vis-1"), events, ProfilePolicy(retention_days=30))
    assert _kept(a) == _kept(b) == _top(uncapped, cap)
    for profile in (a, b):
        assert profile.orders == uncapped.orders and profile.seen == uncapped.seen
        for kind, values in profile.behaviour.items():
            assert len(values) <= cap
            for value, days in values.items():
                for day, n in days.items():
                    assert 1 <= n <= uncapped.behaviour[kind][value][day]


# --- bounded memory ---------------------------------------------------------------


def test_a_bot_viewing_100k_products_keeps_at_most_the_cap() -> None:
    policy = ProfilePolicy(max_keys_per_kind=64)
    profile = new_profile("v:bot")
    for i in range(100_000):
        fold(profile, _fast_view(i), policy)
    products = profile.behaviour[("viewed", "product")]
    assert len(products) == 64
    # the newest 64 by (newest day, value): all from the last day
    last_day = profile.newest_day
    assert all(max(days) == last_day for days in products.values())
    assert len(profile.behaviour[("viewed", "brand")]) == 1


def _fast_view(i: int):
    """A valid view built without validation (the loop above folds 100k of them)."""
    from schemas.events import Product, ViewEvent

    return ViewEvent.model_construct(
        type="view", event_id=f"bot-{i}", occurred_at=T0 + timedelta(seconds=i), visitor_id="bot",
        customer_id=None, schema_version=1, product=Product.model_construct(product_id=f"P{i}", brand="Acme",
                                                                               category=None, price=None),
    )


def test_the_default_cap_is_256() -> None:
    policy = ProfilePolicy()
    profile = new_profile("v:bot")
    for i in range(1000):
        fold(profile, _fast_view(i), policy)
    assert len(profile.behaviour[("viewed", "product")]) == 256


def test_two_years_of_daily_events_keep_only_the_retention_window() -> None:
    policy = ProfilePolicy(retention_days=400)
    profile = new_profile("c:42")
    for d in range(730):
        fold(profile, view(f"P{d % 50}", customer_id="42", at=T0 + timedelta(days=d)), policy)
    days = {day for values in profile.behaviour.values() for v in values.values() for day in v}
    assert profile.newest_day - min(days) == 400
    assert len(days) == 401 and len(profile.seen) == 401
    assert min(profile.seen) == profile.newest_day - 400


@given(seed=st.integers())
def test_visitor_ids_are_capped_to_the_smallest_whatever_the_order(seed) -> None:
    policy = ProfilePolicy(max_visitor_ids=3)
    events = [identify(visitor_id=f"vis-{i}", event_id=f"i{i}") for i in range(10)]
    random.Random(seed).shuffle(events)
    customer = fold_all(new_profile("c:42"), events, policy)
    assert customer.visitor_ids == {"vis-0", "vis-1", "vis-2"}
    cookie = fold_all(new_profile("v:vis-9"), [view(visitor_id="vis-9"), *events], policy)
    assert cookie.visitor_ids == {"vis-0", "vis-1", "vis-9"}  # a cookie profile keeps its own ID


@given(seed=st.integers())
def test_the_order_ledger_keeps_the_newest_orders_whatever_the_order(seed) -> None:
    policy = ProfilePolicy(max_orders=2)
    events = [order(order_id=f"o-{i}", total="1", at=T0 + timedelta(days=i), event_id=f"o{i}") for i in range(6)]
    random.Random(seed).shuffle(events)
    profile = fold_all(new_profile("c:42"), events, policy)
    assert profile.orders.count == 2
    assert profile.orders.first_at == T0 + timedelta(days=4)
    assert profile.count("ordered", "product", "sku-1") == 6  # behaviour is not the ledger


def test_prune_applies_a_lowered_cap_to_a_stored_profile() -> None:
    profile = fold_all(new_profile("v:vis-1"), [view(f"P{i}", at=T0 + timedelta(days=i)) for i in range(10)],
                       ProfilePolicy())
    prune(profile, ProfilePolicy(max_keys_per_kind=3))
    assert set(profile.values("viewed", "product")) == {"p7", "p8", "p9"}
