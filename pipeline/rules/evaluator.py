"""Evaluating compiled groups against a profile at a moment in time.

The evaluator answers three questions per group: is the subject a member,
why (an :class:`Explanation` tree with the values seen), and when can the
answer next change with no new event. The last one is exact: candidate days
come from each condition's own ``change_day`` and are confirmed by
re-evaluating the whole group on that day, so a group whose rows change on
the same day in opposite directions is not re-checked for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipeline.profile import Profile, ProfilePolicy
from pipeline.rules.compiler import CompiledGroup
from pipeline.rules.conditions import Explanation
from pipeline.rules.days import evaluation_scope

MAX_CANDIDATE_DAYS = 64  # after that many unchanged candidates, re-check anyway


@dataclass(frozen=True, slots=True)
class Outcome:
    group_id: str
    matched: bool
    explanation: Explanation
    next_change: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "group_id": self.group_id,
            "matched": self.matched,
            "next_change": self.next_change.isoformat() if self.next_change else None,
            "explanation": self.explanation.as_dict(),
        }


def matches(group: CompiledGroup, profile: Profile, today: int) -> bool:
    """The hot path: membership only, no explanation."""
    return group.condition.holds(profile, today)


def next_change_day(group: CompiledGroup, profile: Profile, today: int,
                    current: bool | None = None) -> int | None:
    """The first day after ``today`` on which membership differs, if no event arrives.

    ``current`` is membership today when the caller already knows it.
    """
    if not group.time_dependent:
        return None
    condition = group.condition
    if current is None:
        current = condition.holds(profile, today)
    if not (group.time_can_leave if current else group.time_can_join):
        return None  # time moves this group the other way only (pipeline.rules.monotone)
    day = today
    for _ in range(MAX_CANDIDATE_DAYS):
        candidate = condition.change_day(profile, day)
        if candidate is None:
            return None
        if condition.holds(profile, candidate) != current:
            return candidate
        day = candidate
    return day  # a conservative re-check: never later than a real change


def evaluate(group: CompiledGroup, profile: Profile, now: datetime, policy: ProfilePolicy) -> Outcome:
    today = policy.day_of(now)
    explanation = group.condition.explain(profile, today)
    change = next_change_day(group, profile, today)
    return Outcome(
        group_id=group.id,
        matched=explanation.holds,
        explanation=explanation,
        next_change=policy.start_of_day(change) if change is not None else None,
    )


def memberships(
    groups: Iterable[CompiledGroup], profile: Profile, today: int
) -> tuple[frozenset[str], int | None]:
    """All groups the profile belongs to, and the earliest day any of them can change."""
    member: set[str] = set()
    earliest: int | None = None
    with evaluation_scope(profile):
        for group in groups:
            holds = group.condition.holds(profile, today)
            if holds:
                member.add(group.id)
            day = next_change_day(group, profile, today, holds)
            if day is not None and (earliest is None or day < earliest):
                earliest = day
    return frozenset(member), earliest
