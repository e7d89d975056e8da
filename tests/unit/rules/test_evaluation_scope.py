"""The evaluation scope only caches: scoped and unscoped evaluation agree, and the re-check day is exact."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.rules import evaluation_scope, matches, memberships, next_change_day
from pipeline.rules.days import first_day_reaching
from pipeline.rules.values import Duration

from .conftest import NOW, POLICY, group, profile_of
from .test_properties import RULES, events


# Rows shared by several groups that differ only in window or threshold, so the
# scope's per-row sums are reused across groups, plus the seed's groups.
def _row(field: str, operator: str, value: object, **extra: object) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value, **extra}


SHARED = [
    group(*rows, gid=str(i))
    for i, rows in enumerate([
        [_row("brand", "viewed", "Sony", within="7 days")],
        [_row("brand", "viewed", "Sony", within="3 months")],
        [_row("brand", "viewed", "Sony", within="30 days", at_least=2)],
        [_row("brand", "basket", "Sony", within="1 year")],
        [_row("brand", "searched", "Sony", within="2 weeks")],
        [{"any": [_row("category", "viewed", "TV", within="10 days"),
                  _row("brand", "viewed", "Lego", within="1 month")]}],
    ], start=500)
]
GROUPS = [*RULES.groups.values(), *SHARED]


@settings(max_examples=150, deadline=None)
@given(events(), st.integers(-30, 400))
def test_scoped_evaluation_equals_evaluating_each_group_alone(batch: list, shift: int) -> None:  # type: ignore[type-arg]
    profile = profile_of(*batch)
    today = POLICY.day_of(NOW) + shift
    alone = {g.id for g in GROUPS if matches(g, profile, today)}
    days = [d for g in GROUPS if (d := next_change_day(g, profile, today)) is not None]
    assert memberships(GROUPS, profile, today) == (frozenset(alone), min(days) if days else None)


@settings(max_examples=60, deadline=None)
@given(events())
def test_the_recheck_day_is_the_first_day_membership_changes(batch: list) -> None:  # type: ignore[type-arg]
    profile = profile_of(*batch)
    today = POLICY.day_of(NOW)
    with evaluation_scope(profile):
        for g in SHARED:
            now = matches(g, profile, today)
            change = next_change_day(g, profile, today, now)
            last = change if change is not None else today + 400
            assert all(matches(g, profile, d) == now for d in range(today + 1, last))
            if change is not None:
                assert matches(g, profile, change) != now


@given(st.integers(0, 40), st.sampled_from(["days", "weeks", "months", "years"]),
       st.integers(date(2024, 1, 1).toordinal(), date(2027, 12, 31).toordinal()))
def testfirst_day_reaching_is_the_first_day_whose_window_starts_on_or_after(
        amount: int, unit: str, day: int) -> None:
    duration = Duration(amount, unit)  # type: ignore[arg-type]
    found = first_day_reaching(duration, day)

    def start(t: int) -> int:
        return duration.back_from(date.fromordinal(t)).toordinal()

    assert start(found) >= day
    assert start(found - 1) < day


def test_a_fields_local_day_is_remembered_per_instant_and_policy_not_per_value() -> None:
    """``fields._day`` remembers the last (instant, policy) by identity: a new policy or an
    instant of another value is converted again, so a remembered day never leaks across them."""
    from datetime import UTC, datetime, timedelta

    from pipeline.profile import ProfilePolicy
    from pipeline.rules.fields import _day

    london, tokyo = ProfilePolicy(timezone="Europe/London"), ProfilePolicy(timezone="Asia/Tokyo")
    late = datetime(2025, 11, 20, 22, 30, tzinfo=UTC)  # 22:30 in London, 07:30 the next day in Tokyo
    assert _day(late, london) == date(2025, 11, 20).toordinal()
    assert _day(late, tokyo) == date(2025, 11, 21).toordinal()  # same instant, other policy
    assert _day(late, london) == date(2025, 11, 20).toordinal()
    equal_value = datetime(2025, 11, 20, 22, 30, tzinfo=UTC)
    assert _day(equal_value, tokyo) == date(2025, 11, 21).toordinal()
    for minutes in range(0, 3 * 24 * 60, 37):  # fresh instants across midnights, both zones in turn
        ts = late + timedelta(minutes=minutes)
        for policy in (london, tokyo, london):
            assert _day(ts, policy) == ts.astimezone(policy.zone).date().toordinal()
    assert _day(None, london) is None
