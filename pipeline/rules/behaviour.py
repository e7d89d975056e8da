"""A behaviour row: ``<field> <action(s)> <value(s)>``, at least N times, in a window.

The condition over a profile's counted storefront actions (views, searches,
baskets, wish lists, orders by brand, category or product), summed per local
day; see :mod:`pipeline.rules.conditions` for the other conditions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from types import MappingProxyType

from pipeline.profile import Action, Profile
from pipeline.rules.conditions import Explanation
from pipeline.rules.days import day_back, days_memo, first_day_reaching
from pipeline.rules.fields import MAX_PHRASE_WORDS, BehaviourField
from pipeline.rules.values import Duration

_NO_VALUES: Mapping[str, dict[int, int]] = MappingProxyType({})
_NO_DAYS: Mapping[int, int] = MappingProxyType({})


def window_days(within: Duration | None, between: tuple[int, int] | None,
                today: int) -> tuple[int | None, int | None]:
    """(first, last) day a row's window counts on ``today``; None: open on that side."""
    if within is not None:
        return day_back(within, today) + 1, None
    if between is not None:
        return between
    return None, None


@dataclass(frozen=True, slots=True)
class Behaviour:
    """``<field> <action(s)> <value(s)>``, at least N times, optionally in a window.

    ``values`` empty means any value. For ``searched`` on brands and categories,
    a free-text search that contains the value as whole words counts too
    (searching "sony headphones" counts as searching the brand Sony).
    """

    field: BehaviourField
    actions: tuple[Action, ...]
    values: frozenset[str]
    contains: bool = False
    at_least: int = 1
    within: Duration | None = None
    between: tuple[int, int] | None = None
    label: str = ""
    # What the per-day sums depend on: rows that differ only in window or threshold share them.
    signature: tuple[object, ...] = dataclass_field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature", (self.field.dimension, self.actions, self.values, self.contains))

    def _matches(self, value: str, *, phrase: bool) -> bool:
        if not self.values:
            return True
        if self.contains or phrase:
            padded = f" {value} "
            return any(f" {wanted} " in padded for wanted in self.values) if phrase else any(
                wanted in value for wanted in self.values)
        return value in self.values

    def _days(self, profile: Profile) -> Mapping[int, int]:
        """Events that match, summed per day (before any window). Read only."""
        if days_memo.profile is profile:
            found = days_memo.days.get(self.signature)
            if found is None:
                found = days_memo.days[self.signature] = self._sum_days(profile)
            return found
        return self._sum_days(profile)

    def _sum_days(self, profile: Profile) -> Mapping[int, int]:
        dimension = self.field.dimension
        if len(self.actions) == 1 and len(self.values) == 1 and not self.contains and not (
                self.actions[0] == "searched" and dimension in ("brand", "category")):
            # The common row, one action and one value: the profile's own buckets, no copy.
            # Straight from the profile's dicts: the read-only views cost more than the sum.
            (value,) = self.values
            return profile.behaviour.get((self.actions[0], dimension), _NO_VALUES).get(value, _NO_DAYS)
        totals: dict[int, int] = {}

        def add(buckets: Iterable[tuple[int, int]]) -> None:
            for day, count in buckets:
                totals[day] = totals.get(day, 0) + count

        behaviour = profile.behaviour
        for action in self.actions:
            known = behaviour.get((action, dimension), _NO_VALUES)
            if self.values and not self.contains:
                for wanted in self.values:
                    if wanted in known:
                        add(known[wanted].items())
            else:
                for value, buckets in known.items():
                    if self._matches(value, phrase=False):
                        add(buckets.items())
            if action == "searched" and dimension in ("brand", "category") and self.values:
                for query, buckets in behaviour.get(("searched", "query"), _NO_VALUES).items():
                    if self._matches(query, phrase=True):
                        add(buckets.items())
        return totals

    def _window(self, today: int) -> tuple[int | None, int | None]:
        return window_days(self.within, self.between, today)

    def _count(self, days: Mapping[int, int], today: int) -> int:
        if self.within is None and self.between is None:
            return sum(days.values())  # no window: every kept day counts
        first, last = self._window(today)
        return sum(c for d, c in days.items()
                   if (first is None or d >= first) and (last is None or d <= last))

    def holds(self, profile: Profile, today: int) -> bool:
        return self._count(self._days(profile), today) >= self.at_least

    def change_day(self, profile: Profile, today: int) -> int | None:
        if self.within is None:
            return None  # fixed or no window: only new events change the count
        days = self._days(profile)
        if self._count(days, today) < self.at_least:
            return None  # a rolling window only loses events as time passes
        # Find the day of the N-th newest matching event; the row stops holding when it leaves.
        running = 0
        for day in sorted(days, reverse=True):
            running += days[day]
            if running >= self.at_least:  # the row stops holding when that day leaves the window
                return max(first_day_reaching(self.within, day), today + 1)
        return None

    def reads(self) -> frozenset[str]:
        keys = set()
        for action in self.actions:
            if self.values and not self.contains:
                keys |= {f"{action}:{self.field.dimension}:{v}" for v in self.values}
            else:
                keys.add(f"{action}:{self.field.dimension}:*")
            if action == "searched" and self.field.dimension in ("brand", "category") and (
                not self.values or any(len(v.split()) > MAX_PHRASE_WORDS for v in self.values)
            ):
                keys.add("searched:query:*")
        return frozenset(keys)

    def describe(self) -> str:
        if self.label:
            return self.label
        verbs = " or ".join(self.actions)
        what = " or ".join(repr(v) for v in sorted(self.values)) if self.values else "anything"
        text = f"{self.field.name} {verbs} {'containing ' if self.contains else ''}{what}"
        if self.at_least > 1:
            text += f" at least {self.at_least} times"
        if self.within is not None:
            text += f" in the last {self.within}"
        if self.between is not None:
            a, b = (date.fromordinal(d).strftime("%d/%m/%Y") for d in self.between)
            text += f" between {a} and {b}"
        return text

    def explain(self, profile: Profile, today: int) -> Explanation:
        count = self._count(self._days(profile), today)
        times = "once" if count == 1 else f"{count} times"
        return Explanation(f"{self.describe()} (did so {times})", count >= self.at_least)
