"""Time windows on both sides of their edge, and the exact next-change time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.rules import evaluate, matches, next_change_day

from .conftest import NOW, POLICY, at, group, order, profile_of, signup, today, view

UTC = UTC


def _day(text: str) -> int:
    d, m, y = (int(x) for x in text.split("/"))
    return date(y, m, d).toordinal()


def test_rolling_window_expires_at_local_midnight_exactly() -> None:
    g = group({"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"})
    p = profile_of(view(at("18/11/2025")))
    outcome = evaluate(g, p, NOW, POLICY)
    assert outcome.matched
    assert outcome.next_change == datetime(2025, 11, 21, 0, 0, tzinfo=UTC)  # GMT in November
    just_before = outcome.next_change - timedelta(microseconds=1)
    assert evaluate(g, p, just_before, POLICY).matched
    assert not evaluate(g, p, outcome.next_change, POLICY).matched
    assert evaluate(g, p, outcome.next_change, POLICY).next_change is None


def test_next_change_is_local_midnight_in_summer_time() -> None:
    g = group({"field": "brand", "op": "viewed", "value": "Sony", "within": "7 days"})
    p = profile_of(view(at("01/06/2025")))
    outcome = evaluate(g, p, at("03/06/2025"), POLICY)
    assert outcome.next_change == datetime(2025, 6, 7, 23, 0, tzinfo=UTC)  # 8 June 00:00 BST
    assert not evaluate(g, p, outcome.next_change, POLICY).matched
    assert evaluate(g, p, outcome.next_change - timedelta(seconds=1), POLICY).matched


def test_at_least_n_expires_when_the_nth_newest_leaves() -> None:
    g = group({"field": "brand", "op": "viewed", "value": "Sony", "at_least": 2, "within": "30 days"})
    p = profile_of(view(at("01/11/2025")), view(at("15/11/2025")), view(at("10/11/2025")))
    assert next_change_day(g, p, today()) == _day("10/12/2025")
    assert matches(g, p, _day("09/12/2025")) and not matches(g, p, _day("10/12/2025"))


def test_calendar_months() -> None:
    g = group(["lastorder", "in the last", "3 months"])
    p = profile_of(order("20", at("15/11/2025")))
    assert next_change_day(g, p, today()) == _day("15/02/2026")
    assert matches(g, p, _day("14/02/2026")) and not matches(g, p, _day("15/02/2026"))


def test_relative_date_comparison_changes_when_the_threshold_passes() -> None:
    g = group(["datejoined", "greater than", "30 days ago"])
    p = profile_of(signup("05/11/2025"))
    assert next_change_day(g, p, today()) == _day("05/12/2025")
    assert matches(g, p, _day("04/12/2025")) and not matches(g, p, _day("05/12/2025"))


def test_equals_a_relative_date_is_true_for_one_day() -> None:
    g = group(["datejoined", "equals", "30 days ago"])
    p = profile_of(signup("05/11/2025"))
    first = next_change_day(g, p, today())
    assert first == _day("05/12/2025") and matches(g, p, first)
    assert next_change_day(g, p, first) == _day("06/12/2025")


def test_not_in_the_last_becomes_true_later() -> None:
    g = group({"not": {"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"}})
    p = profile_of(view(at("19/11/2025")))
    assert not matches(g, p, today())
    assert next_change_day(g, p, today()) == _day("22/11/2025")


def test_or_of_two_windows_changes_only_when_both_expire() -> None:
    g = group({"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"},
              {"connector": "or", "field": "brand", "op": "viewed", "value": "Sony", "within": "10 days"})
    p = profile_of(view(at("18/11/2025")))
    assert next_change_day(g, p, today()) == _day("28/11/2025")


@pytest.mark.parametrize("rule", [
    ["orders", "equals", 0],
    ["datejoined", "greater than", "01/11/2025"],
    {"field": "brand", "op": "viewed", "value": "Sony", "between": ["01/01/2025", "31/12/2025"]},
    {"field": "brand", "op": "viewed", "value": "Sony"},
])
def test_rules_without_moving_time_never_change_on_their_own(rule: object) -> None:
    g = group(rule)
    assert not g.time_dependent
    assert evaluate(g, profile_of(signup("05/11/2025"), view(at("18/11/2025"), customer_id="c1")),
                    NOW, POLICY).next_change is None


def test_a_window_that_does_not_hold_cannot_start_holding_without_events() -> None:
    g = group({"field": "brand", "op": "viewed", "value": "Sony", "at_least": 5, "within": "30 days"})
    assert next_change_day(g, profile_of(view(at("18/11/2025"))), today()) is None


def test_and_binds_tighter_than_or() -> None:
    # a or b and c  ==  a or (b and c)
    a = ["orders", "equals", 5]
    b = ["or", "registered", "equals", "no"]
    c = ["and", "orders", "equals", 1]
    visitor = profile_of(view(at("18/11/2025")))  # a false, b true, c false
    assert not matches(group(a, b, c), visitor, today())
    assert matches(group({"any": [a, {"all": [b[1:], c[1:]]}]}), profile_of(order("5")), today()) is False
    one_order = profile_of(order("5", customer=None))  # a false, b true, c true
    assert matches(group(a, b, c), one_order, today())


def test_first_connector_is_ignored() -> None:
    visitor = profile_of(view())
    assert matches(group(["or", "registered", "equals", "no"]), visitor, today())
