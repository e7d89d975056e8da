"""Day arithmetic of the rule language: windows back from a day, the first day a
monotone predicate holds, and the per-evaluation memo of behaviour rows' day sums.

Days are local calendar days in the shop's time zone (``date.toordinal()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache

from pipeline.profile import Profile
from pipeline.rules.values import Duration


def first_day_where(predicate: Callable[[int], bool], after: int, horizon: int) -> int | None:
    """The smallest day in (after, horizon] where a monotone (False→True) predicate holds."""
    if horizon <= after or not predicate(horizon):
        return None
    low, high = after + 1, horizon
    while low < high:
        mid = (low + high) // 2
        if predicate(mid):
            high = mid
        else:
            low = mid + 1
    return low


@lru_cache(maxsize=1 << 16)
def day_back(duration: Duration, today: int) -> int:
    """The day ``duration`` before ``today``: a window of ``duration`` ending today holds the
    days after it. Cached: a binary search over days asks the same few
    thousand (duration, day) pairs."""
    return duration.back_from(date.fromordinal(today)).toordinal()


@lru_cache(maxsize=1 << 16)
def first_day_reaching(duration: Duration, day: int) -> int:
    """The first day ``t`` whose window start ``t - duration`` is on or after ``day``."""
    horizon = day + duration.longest_days() + 2
    found = first_day_where(lambda t: day_back(duration, t) >= day, day - 1, horizon)
    assert found is not None  # the horizon is past the answer by construction
    return found


class _DaysMemo:
    """Matching events per day, per behaviour row, for one profile during one evaluation.

    Many groups share a behaviour row and differ only in window or threshold
    ("viewed Sony in the last 7 / 30 / 90 days"), and each row is read again
    for the re-check day: summing the profile's buckets once per row signature
    makes the cost of a group mostly its window arithmetic. Only valid while
    the profile does not change, hence the explicit scope.
    """

    __slots__ = ("days", "profile")

    def __init__(self) -> None:
        self.profile: Profile | None = None
        self.days: dict[tuple[object, ...], Mapping[int, int]] = {}


days_memo = _DaysMemo()
"""The memo of the evaluation in progress (one thread evaluates at a time)."""


class evaluation_scope:  # used as a function: `with evaluation_scope(profile):`
    """Within the block, behaviour rows remember their per-day sums for ``profile``.

    A class rather than a ``@contextmanager`` generator: entered for every
    evaluated event, where the generator's set-up cost as much as a condition.
    """

    __slots__ = ("previous", "profile")

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def __enter__(self) -> None:
        self.previous = days_memo.profile, days_memo.days
        days_memo.profile, days_memo.days = self.profile, {}

    def __exit__(self, *exc: object) -> None:
        days_memo.profile, days_memo.days = self.previous
