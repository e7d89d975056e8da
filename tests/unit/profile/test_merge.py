"""merge(): a cookie's history joins the customer's at login, exactly once."""

from __future__ import annotations

import copy
import random
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from pipeline.profile import ProfilePolicy, fold, merge, merge_hash, new_profile

from .builders import T0, event_lists, fold_all, order, signup, view

POLICIES = st.sampled_from([ProfilePolicy(retention_days=30), ProfilePolicy()])


def _without_marker(profile, merge_id: str):
    profile = copy.deepcopy(profile)
    marker = merge_hash(merge_id)
    for day in list(profile.seen):
        profile.seen[day].discard(marker)
        if not profile.seen[day]:
            del profile.seen[day]
    return profile


@given(
    before=event_lists(max_size=20, prefix="c"),
    cookie=event_lists(customer=False, min_size=1, max_size=20, prefix="v"),
    after=event_lists(max_size=10, prefix="a"),
    policy=POLICIES,
    seed=st.integers(),
)
def test_merge_then_fold_equals_folding_everything_into_one_profile(before, cookie, after, policy, seed) -> None:
    customer = fold_all(new_profile("c:42"), before, policy)
    visitor = fold_all(new_profile("v:vis-1"), cookie, policy)
    visitor_before = copy.deepcopy(visitor)
    assert merge(customer, visitor, policy, "login-1") is True
    assert visitor == visitor_before  # the visitor is read, not changed
    fold_all(customer, after, policy)

    everything = before + cookie + after
    random.Random(seed).shuffle(everything)
    reference = fold_all(new_profile("c:42"), everything, policy)
    assert _without_marker(customer, "login-1") == reference
    assert customer.behaviour == reference.behaviour and customer.orders == reference.orders


@given(
    before=event_lists(max_size=20, prefix="c"),
    cookie=event_lists(customer=False, min_size=1, max_size=20, prefix="v"),
    cap=st.integers(1, 3),
)
def test_with_the_cap_binding_merge_keeps_the_same_values_as_one_fold(before, cookie, cap) -> None:
    policy = ProfilePolicy(retention_days=30, max_keys_per_kind=cap)
    customer = fold_all(new_profile("c:42"), before, policy)
    merge(customer, fold_all(new_profile("v:vis-1"), cookie, policy), policy, "m")
    reference = fold_all(new_profile("c:42"), before + cookie, policy)

    def kept(p):
        return {k: {v: max(d) for v, d in vals.items()} for k, vals in p.behaviour.items()}

    assert kept(customer) == kept(reference)
    assert all(len(values) <= cap for values in customer.behaviour.values())


def test_a_merge_happens_once_per_merge_id() -> None:
    policy = ProfilePolicy()
    customer = fold_all(new_profile("c:42"), [signup(), view("A", customer_id="42")], policy)
    visitor = fold_all(new_profile("v:vis-1"), [view("A"), order(order_id="o-9")], policy)
    assert merge(customer, visitor, policy, "id-1") is True
    assert customer.count("viewed", "product", "a") == 2
    snapshot = copy.deepcopy(customer)
    assert merge(customer, visitor, policy, "id-1") is False
    assert customer == snapshot
    assert customer.visitor_ids == {"vis-1"}
    assert customer.orders.count == 1 and customer.email.value == "ann@example.com"
    # The marker is salted: an event whose ID equals a merge ID is still counted.
    assert fold(customer, view("B", customer_id="42", event_id="id-1"), policy) is True
    assert customer.count("viewed", "product", "b") == 1


def test_the_same_cookie_content_merged_again_under_another_merge_id_counts_once() -> None:
    """A failover can replay a cookie profile whose hand-over was already applied: counted once."""
    policy = ProfilePolicy()
    customer = fold_all(new_profile("c:42"), [signup()], policy)
    visitor = fold_all(new_profile("v:vis-1"), [view("Stressless"), order(order_id="o-9")], policy)
    assert merge(customer, visitor, policy, "login-1") is True
    counted = copy.deepcopy(customer.behaviour), customer.orders.count
    assert merge(customer, visitor, policy, "login-2") is True  # answered, remembered, not counted
    assert (customer.behaviour, customer.orders.count) == counted
    assert merge(customer, visitor, policy, "login-2") is False
    # a cookie with anything new is merged as usual
    more = fold_all(new_profile("v:vis-2"), [view("Sony")], policy)
    assert merge(customer, more, policy, "login-3") is True
    assert customer.count("viewed", "product", "sony") == 1


def test_merging_an_empty_visitor_does_nothing() -> None:
    policy = ProfilePolicy()
    customer = fold_all(new_profile("c:42"), [view(customer_id="42")], policy)
    snapshot = copy.deepcopy(customer)
    assert merge(customer, new_profile("v:vis-1"), policy, "m") is False
    assert customer == snapshot


def test_merge_prunes_visitor_history_outside_the_customers_window() -> None:
    policy = ProfilePolicy(retention_days=10)
    customer = fold_all(new_profile("c:42"), [view("new", customer_id="42", at=T0 + timedelta(days=50))], policy)
    visitor = fold_all(new_profile("v:vis-1"), [view("old", at=T0), order(order_id="o-1", at=T0)], policy)
    assert merge(customer, visitor, policy, "m")
    assert customer.count("viewed", "product", "old") == 0
    assert min(customer.seen) >= customer.newest_day - 10
    assert customer.orders.count == 1  # the ledger is lifetime
    assert customer.last_seen == T0 + timedelta(days=50)
    assert customer.visitor_ids == {"vis-1"}


def test_counted_tells_whether_a_profile_already_holds_an_event() -> None:
    from pipeline.profile import counted

    policy = ProfilePolicy()
    seen = view("Stressless")
    cookie = fold_all(new_profile("v:vis-1"), [seen], policy)
    assert counted(cookie, seen, policy)
    assert not counted(cookie, view("Stressless"), policy)  # another event ID
    assert not counted(cookie, signup(), policy)  # registers are not behaviour: never "counted"
