"""Monotonicity: which events cannot end a membership, and which way time moves one.

The processor skips work on the strength of these answers, so the properties
check them against brute force: every day, every group, random profiles.
"""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.processor import SubjectProcessor
from pipeline.profile import fold
from pipeline.registry import GroupRegistry
from pipeline.rules import matches, memberships, next_change_day
from pipeline.rules.index import event_keys

from .conftest import NOW, POLICY, group, profile_of
from .test_properties import events


def _row(field: str, operator: str, value: object, **extra: object) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value, **extra}


# Rows time can end, rows time can start, rows events can end, and mixes of them.
MIXED_RULES: list[list[object]] = [
    [_row("brand", "viewed", "Sony", within="30 days")],
    [_row("brand", "viewed", "Sony", within="90 days", at_least=2)],
    [_row("category", "basket", "TV")],
    [{"not": _row("brand", "viewed", "Lego", within="14 days")}],
    [["lastorder", "not in the last", "60 days"]],
    [["lastorder", "in the last", "3 months"]],
    [["lastseen", "in the last", "20 days"]],
    [["orders", "greater than", 1]],
    [["orders", "equals", 0]],
    [["totalspend", "greater than", "£500"]],
    [["averagespend", "less than", "£300"]],
    [["firstorder", "before", "01/09/2025"]],
    [["datejoined", "after", "01/10/2025"]],
    [["lastseen", "before", "30 days ago"]],
    [_row("brand", "searched", "Sony", within="2 weeks"), ["and", "orders", "equals", 0]],
    [{"any": [_row("brand", "wishlist", "Acme", within="7 days"),
              {"not": ["lastorder", "in the last", "45 days"]}]}],
    [{"all": [_row("category", "viewed", "Chairs", within="60 days"),
              {"not": _row("category", "ordered", "Chairs", within="60 days")}]}],
]
MIXED = [group(*rules, gid=str(500 + i)) for i, rules in enumerate(MIXED_RULES)]
TODAY = POLICY.day_of(NOW)


def _by_id(gid: str):  # type: ignore[no-untyped-def]
    return next(g for g in MIXED if g.id == gid)


def test_rows_that_only_grow_cannot_end_on_any_event() -> None:
    assert _by_id("500").can_leave_on == frozenset()  # viewed Sony in 30 days
    assert _by_id("507").can_leave_on == frozenset()  # orders > 1
    assert _by_id("505").can_leave_on == frozenset()  # last order in 3 months
    assert _by_id("503").can_leave_on == {"viewed:brand:lego"}  # not viewed Lego
    assert _by_id("508").can_leave_on == {"orders"}  # orders = 0
    assert _by_id("509").can_leave_on == {"orders"}  # spend: an amended order can lower it
    assert _by_id("504").can_leave_on == {"orders"}  # last order not in 60 days
    assert _by_id("513").can_leave_on == {"activity"}  # last seen before 30 days ago


def test_time_moves_windows_one_way() -> None:
    def moves(gid: str) -> tuple[bool, bool]:
        g = _by_id(gid)
        return g.time_can_join, g.time_can_leave

    assert moves("500") == (False, True)  # a rolling window only loses events
    assert moves("502") == (False, False)  # no window: only events change it
    assert moves("503") == (True, False)  # not in a window: time can start it
    assert moves("504") == (True, False)
    assert moves("505") == (False, True)
    assert moves("513") == (True, False)  # the threshold "30 days ago" rises with the days
    assert moves("515") == (True, True)


@settings(max_examples=120, deadline=None)
@given(events(), st.integers(-30, 200))
def test_the_recheck_day_is_exact_for_groups_time_moves_either_way(batch: list, shift: int) -> None:  # type: ignore[type-arg]
    profile = profile_of(*batch)
    today = TODAY + shift
    for g in MIXED:
        now = matches(g, profile, today)  # type: ignore[arg-type]
        change = next_change_day(g, profile, today, now)  # type: ignore[arg-type]
        last = change if change is not None else today + 450
        assert all(matches(g, profile, d) == now for d in range(today + 1, last)), g.id  # type: ignore[arg-type]
        if change is not None:
            assert matches(g, profile, change) != now, g.id  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(events(), events())
def test_an_event_outside_can_leave_on_keeps_members_on_every_day(batch: list, more: list) -> None:  # type: ignore[type-arg]
    before = profile_of(*batch)
    after = copy.deepcopy(before)
    event = more[0]
    if POLICY.day_of(event.occurred_at) > before.newest_day:  # type: ignore[attr-defined]
        return  # such an event may prune old buckets: the processor never skips then
    fold(after, event, POLICY)  # type: ignore[arg-type]
    keys = event_keys(event)
    for g in MIXED:
        if g.can_leave_on & keys:
            continue
        for day in range(TODAY - 10, TODAY + 120, 3):
            if matches(g, before, day):  # type: ignore[arg-type]
                assert matches(g, after, day), (g.id, day)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(events(), st.sampled_from([400, 30, 5]))
def test_processor_membership_equals_evaluating_every_group(batch: list, retention: int) -> None:  # type: ignore[type-arg]
    """Skipping what an event cannot change changes nothing; the re-check day stays early enough.

    Short retention makes events prune old buckets, which the index alone would miss.
    """
    from dataclasses import replace

    policy = replace(POLICY, retention_days=retention)
    registry = GroupRegistry.from_definitions([g.definition for g in MIXED], policy)
    processor = SubjectProcessor(registry, policy)
    profile, next_check = None, None
    for e in batch:
        result = processor.on_event(profile, next_check, "c:c1", e, NOW)
        if result.store:
            profile, next_check = result.profile, result.next_check
        assert profile is not None
        exact_groups, exact_next = memberships(registry.groups.values(), profile, TODAY)
        assert set(profile.groups) == set(exact_groups)
        if exact_next is not None:
            assert next_check is not None and TODAY < next_check <= exact_next


def test_an_event_that_prunes_old_buckets_re_evaluates_every_group() -> None:
    """A new newest day drops buckets past retention: "viewed Sony" (no window) ends then,
    although the event (a view of another brand) does not name Sony."""
    from dataclasses import replace
    from datetime import timedelta

    from .conftest import view

    policy = replace(POLICY, retention_days=10)
    sony = group(_row("brand", "viewed", "Sony"), gid="600")
    processor = SubjectProcessor(GroupRegistry.from_definitions([sony.definition], policy), policy)
    first = processor.on_event(None, None, "v:v1", view(NOW - timedelta(days=20)), NOW)
    assert first.joined == {"600"}
    again = processor.on_event(first.profile, first.next_check, "v:v1",
                               view(NOW - timedelta(days=15), brand="Acme"), NOW)
    assert set(again.profile.groups) == {"600"}  # type: ignore[union-attr]  # still inside retention
    later = processor.on_event(again.profile, again.next_check, "v:v1", view(NOW, brand="Acme"), NOW)
    assert later.left == {"600"}
    assert set(later.profile.groups) == set(memberships([sony], later.profile, TODAY)[0])  # type: ignore[union-attr, arg-type]


@settings(max_examples=150, deadline=None)
@given(events(), st.lists(st.integers(0, 12), min_size=12, max_size=12), st.sampled_from([400, 30]))
def test_membership_is_exact_after_every_event_as_days_pass_and_no_recheck_comes(
        batch: list, gaps: list[int], retention: int) -> None:  # type: ignore[type-arg]
    """Events processed on later and later days, the re-check messages never delivered.

    A re-check that is due when an event arrives is done with the event, so
    after every event the groups are exact for that day, and the next re-check
    day is after it and no later than the first change.
    """
    from dataclasses import replace
    from datetime import timedelta

    policy = replace(POLICY, retention_days=retention)
    registry = GroupRegistry.from_definitions([g.definition for g in MIXED], policy)
    processor = SubjectProcessor(registry, policy)
    profile, next_check = None, None
    now = NOW
    for e, gap in zip(batch, gaps, strict=False):
        now += timedelta(days=gap)
        today = policy.day_of(now)
        result = processor.on_event(profile, next_check, "c:c1", e, now)
        if result.store:
            profile, next_check = result.profile, result.next_check
        if profile is None:
            continue
        if not result.store and next_check is not None and next_check <= today:
            continue  # a duplicate changes nothing, not even a due re-check: the re-check message does
        exact_groups, exact_next = memberships(registry.groups.values(), profile, today)
        assert set(profile.groups) == set(exact_groups)
        if exact_next is not None:
            assert next_check is not None and today < next_check <= exact_next


def test_an_event_on_the_day_a_recheck_is_due_does_the_recheck() -> None:
    """"Viewed Apple 3 times in 7 days" ends on day D+7; a consent event that day, before the
    re-check message, must end it too, or the re-check day is lost with it."""
    from datetime import timedelta

    from .conftest import event, view

    apple = group(_row("brand", "viewed", "Apple", within="7 days", at_least=3), gid="700")
    from schemas.groups import GroupDefinition

    newsletter = GroupDefinition.model_validate({"id": "1", "name": "Newsletter", "type": "public"})
    registry = GroupRegistry.from_definitions([apple.definition, newsletter], POLICY)
    processor = SubjectProcessor(registry, POLICY)
    profile, next_check = None, None
    for i in range(3):
        result = processor.on_event(profile, next_check, "c:c1",
                                    view(NOW, brand="Apple", pid=f"a{i}", customer_id="c1"), NOW)
        profile, next_check = result.profile, result.next_check
    assert profile is not None and "700" in profile.groups and next_check == TODAY + 7
    later = NOW + timedelta(days=7)
    consent = event("consent", later, customer_id="c1", group_id="1", granted=True, source="account")
    result = processor.on_event(profile, next_check, "c:c1", consent, later)
    assert result.left == {"700"} and result.joined == {"1"}
    assert result.next_check is None
