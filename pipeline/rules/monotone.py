"""Which events cannot end a membership, and which way time can move one.

Events only add to what a profile holds. Behaviour counts grow, the order
count grows, and the last order and last seen days only move later. So
"viewed Sony at least 3 times in the last 30 days" or "orders greater than 2"
cannot stop holding because an event arrived. Time can end them, but not an
event. A member of such a group stays a member whatever the event, so the
processor need not evaluate it again (see ``SubjectProcessor._evaluate``).
With many groups about a few brands, most of the groups an event selects
are like that.

This holds only while folding really is additive. On a subject's first
event of a new day, fold may prune buckets past the retention window, and a
new value may evict another at the per-kind key cap. The processor checks
both before it relies on this module.

Time moves most rows one way too: a rolling window only loses events as days
pass, and "joined after 30 days ago" only stops holding. A non-member of a
group that time can only end stays a non-member until an event comes, so it
needs no re-check day (:func:`time_moves`), which is half of the cost of a
group that is evaluated.
"""

from __future__ import annotations

from pipeline.rules.behaviour import Behaviour
from pipeline.rules.conditions import All, Any, Compare, Condition, Not
from pipeline.rules.values import Duration, RelativeDate

# Scalar fields whose value an event can only raise (or set), and the
# operators for which a higher value can only keep the row true (RISES) or
# false (FALLS). Total and average spend are not here: an amended order can
# lower them, and the order cap can evict old orders.
_GROWING_FIELDS = frozenset({"orders", "lastorder", "lastseen"})
_RISES = frozenset({"gt", "ge", "is_set", "in_last"})
_FALLS = frozenset({"lt", "le", "is_not_set", "not_in_last"})
# A missing value compares false, so a first last-order or last-seen day can make
# "before ..." or "not in the last ..." true: for those only "is not set" surely falls.
_MAY_BE_MISSING = frozenset({"lastorder", "lastseen"})
_FALLS_FROM_MISSING = frozenset({"is_not_set"})


def can_leave_on(condition: Condition) -> frozenset[str]:
    """The event keys (see :mod:`pipeline.rules.index`) on which a member could stop matching.

    An event that touches none of them leaves a true condition true on every
    day, so the day the member leaves by time can only come later.
    """
    return frozenset(_can_fall(condition, rising=True))


def _can_fall(condition: Condition, *, rising: bool) -> set[str]:
    """Keys that could move ``condition`` against the wanted direction (down if ``rising``)."""
    if isinstance(condition, (All, Any)):
        keys: set[str] = set()
        for child in condition.children:
            keys |= _can_fall(child, rising=rising)
        return keys
    if isinstance(condition, Not):
        return _can_fall(condition.child, rising=not rising)
    if isinstance(condition, Behaviour):  # counts only grow
        return set() if rising else set(condition.reads())
    if isinstance(condition, Compare) and condition.field.name in _GROWING_FIELDS:
        safe = _RISES if rising else (
            _FALLS_FROM_MISSING if condition.field.name in _MAY_BE_MISSING else _FALLS)
        return set() if condition.op in safe else set(condition.reads())
    return set(condition.reads())  # consent, staff, profile fields, spend: either way


def time_moves(condition: Condition) -> tuple[bool, bool]:
    """(can start holding, can stop holding) as days pass with no new event."""
    if isinstance(condition, (All, Any)):
        rises = falls = False
        for child in condition.children:
            child_rises, child_falls = time_moves(child)
            rises, falls = rises or child_rises, falls or child_falls
        return rises, falls
    if isinstance(condition, Not):
        rises, falls = time_moves(condition.child)
        return falls, rises
    if isinstance(condition, Behaviour):  # a rolling window only loses events
        return False, condition.within is not None
    if isinstance(condition, Compare):
        if not any(isinstance(o, (RelativeDate, Duration)) for o in condition.operands):
            return False, False
        if condition.op in _RISES:  # above a threshold that rises with the days
            return False, True
        if condition.op in _FALLS:
            return True, False
        return True, True
    return False, False  # consent and staff records do not move with time
