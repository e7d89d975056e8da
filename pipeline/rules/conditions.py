"""Compiled conditions: what one rule row or block means, as code.

Every condition is a function of (profile, today), where *today* is the local
calendar day in the shop's time zone (``date.toordinal()``). All time in the
rule language is day-grained, so a condition's answer can only change at a
local midnight; ``change_day`` names the first day after *today* at which it
may change with no new event (``None``: never), which lets the pipeline
re-check a subject exactly when a time window passes.

Missing data: a comparison with a value the subject does not have (an
anonymous visitor's join date, the average spend of someone who never ordered)
is false, whatever the operator; only ``is not set`` is true for it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from functools import lru_cache
from types import MappingProxyType
from typing import Any as Dynamic
from typing import Protocol

from pipeline.profile import Action, Profile, ProfilePolicy
from pipeline.rules.fields import MAX_PHRASE_WORDS, BehaviourField, Op, ScalarField, op_label
from pipeline.rules.values import Duration, RelativeDate, format_money


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a condition held or not, with the values it saw: shown to shop staff."""

    text: str
    holds: bool
    children: tuple[Explanation, ...] = ()

    def render(self, indent: int = 0) -> str:
        mark = "✔" if self.holds else "✘"
        lines = [f"{'  ' * indent}{mark} {self.text}"]
        lines += [child.render(indent + 1) for child in self.children]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "holds": self.holds,
                "children": [c.as_dict() for c in self.children]}


class Condition(Protocol):
    def holds(self, profile: Profile, today: int) -> bool: ...
    def explain(self, profile: Profile, today: int) -> Explanation: ...
    def change_day(self, profile: Profile, today: int) -> int | None: ...
    def reads(self) -> frozenset[str]: ...
    def describe(self) -> str: ...


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


_NO_VALUES: Mapping[str, dict[int, int]] = MappingProxyType({})
_NO_DAYS: Mapping[int, int] = MappingProxyType({})


@lru_cache(maxsize=1 << 16)
def _back(duration: Duration, today: int) -> int:
    """Cached: a binary search over days asks the same few thousand (duration, day) pairs."""
    return duration.back_from(date.fromordinal(today)).toordinal()


@lru_cache(maxsize=1 << 16)
def _first_day_reaching(duration: Duration, day: int) -> int:
    """The first day ``t`` whose window start ``t - duration`` is on or after ``day``."""
    horizon = day + duration.longest_days() + 2
    found = first_day_where(lambda t: _back(duration, t) >= day, day - 1, horizon)
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


_memo = _DaysMemo()


class evaluation_scope:  # used as a function: `with evaluation_scope(profile):`
    """Within the block, behaviour rows remember their per-day sums for ``profile``.

    A class rather than a ``@contextmanager`` generator: entered for every
    evaluated event, where the generator's set-up cost as much as a condition.
    """

    __slots__ = ("previous", "profile")

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def __enter__(self) -> None:
        self.previous = _memo.profile, _memo.days
        _memo.profile, _memo.days = self.profile, {}

    def __exit__(self, *exc: object) -> None:
        _memo.profile, _memo.days = self.previous


# --- scalar comparisons ---------------------------------------------------

_COMPARE: dict[str, Callable[[Dynamic, Dynamic], object]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "lt": operator.lt, "ge": operator.ge, "le": operator.le}

Operand = object  # int | str | bool | RelativeDate | Duration | tuple | frozenset


@dataclass(frozen=True, slots=True)
class Compare:
    """``field op operand(s)``, for profile and order-aggregate fields."""

    field: ScalarField
    op: Op
    operands: tuple[Operand, ...]
    policy: ProfilePolicy
    label: str = ""
    # Whether an operand moves with today (a relative date): else the operands are used as they are.
    moving: bool = dataclass_field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "moving", any(isinstance(o, RelativeDate) for o in self.operands))

    def _resolve(self, operand: Operand, today: int) -> Operand:
        if isinstance(operand, RelativeDate):
            return _back(operand.duration, today)
        return operand

    def _test(self, actual: Dynamic, today: int) -> bool:  # a field value: date, number, text or set
        op = self.op
        if op == "is_set":
            return actual is not None and actual != frozenset()
        if op == "is_not_set":
            return actual is None or actual == frozenset()
        if actual is None:
            return False
        values: Sequence[Dynamic] = (self.operands if not self.moving else
                                     [self._resolve(o, today) for o in self.operands])
        if op == "in_last":  # within the last N: after the day N ago
            return bool(actual > _back(values[0], today))
        if op == "not_in_last":
            return bool(actual <= _back(values[0], today))
        if self.field.kind == "set":
            return bool(actual & set(values)) if op in ("contains", "in") else False
        if op == "contains":
            return str(values[0]) in str(actual)
        if op == "in":
            return actual in values
        if op == "between":
            return bool(values[0] <= actual <= values[1])
        return bool(_COMPARE[op](actual, values[0]))

    def holds(self, profile: Profile, today: int) -> bool:
        return self._test(self.field.extract(profile, self.policy), today)

    def change_day(self, profile: Profile, today: int) -> int | None:
        return self.change_from(self.field.extract(profile, self.policy), today)

    def change_from(self, actual: Dynamic, today: int) -> int | None:
        """``change_day`` for a field value: the first day after ``today`` the answer differs.

        Like ``_test``, it depends on the value and the day alone, so a caller may
        remember both answers per (value, day) (:class:`pipeline.rules.network.Evaluation`)."""
        moving = [o for o in self.operands if isinstance(o, (RelativeDate, Duration))]
        if actual is None or not moving or not isinstance(actual, int):
            return None
        # A moving threshold only rises with time, so comparisons against it flip at most
        # where it reaches the actual value and where it passes it: check both days.
        candidates: set[int] = set()
        for operand in moving:
            duration = operand.duration if isinstance(operand, RelativeDate) else operand
            for reached in (actual, actual + 1):  # threshold >= actual, threshold > actual
                candidates.add(max(_first_day_reaching(duration, reached), today + 1))
        now = self._test(actual, today)
        for day in sorted(candidates):
            if self._test(actual, day) != now:
                return day
        return None

    def reads(self) -> frozenset[str]:
        return frozenset({self.field.reads})

    def _format(self, value: object) -> str:
        if isinstance(value, (RelativeDate, Duration)):
            return str(value)
        if self.field.kind == "date" and isinstance(value, int):
            return date.fromordinal(value).strftime("%d/%m/%Y")
        if self.field.kind == "money" and isinstance(value, int):
            return format_money(value, self.policy.currency)
        if isinstance(value, frozenset):
            return ", ".join(sorted(value)) or "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.op in ("is_set", "is_not_set"):
            return f"{self.field.name} {op_label(self.op)}"
        joiner = " and " if self.op == "between" else ", "
        operands = joiner.join(self._format(o) for o in self.operands)
        return f"{self.field.name} {op_label(self.op)} {operands}"

    def explain(self, profile: Profile, today: int) -> Explanation:
        actual = self.field.extract(profile, self.policy)
        shown = "not set" if actual is None else self._format(actual)
        return Explanation(f"{self.describe()} (is {shown})", self._test(actual, today))


# --- behaviour ------------------------------------------------------------


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
        if _memo.profile is profile:
            found = _memo.days.get(self.signature)
            if found is None:
                found = _memo.days[self.signature] = self._sum_days(profile)
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
        if self.within is not None:
            return _back(self.within, today) + 1, None
        if self.between is not None:
            return self.between
        return None, None

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
                return max(_first_day_reaching(self.within, day), today + 1)
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


# --- blocks ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class All:
    children: tuple[Condition, ...]

    def holds(self, profile: Profile, today: int) -> bool:
        return all(c.holds(profile, today) for c in self.children)

    def change_day(self, profile: Profile, today: int) -> int | None:
        return _earliest(c.change_day(profile, today) for c in self.children)

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(c.reads() for c in self.children))

    def describe(self) -> str:
        return "all of"

    def explain(self, profile: Profile, today: int) -> Explanation:
        parts = tuple(c.explain(profile, today) for c in self.children)
        return Explanation("all of these", all(p.holds for p in parts), parts)


@dataclass(frozen=True, slots=True)
class Any:
    children: tuple[Condition, ...]

    def holds(self, profile: Profile, today: int) -> bool:
        return any(c.holds(profile, today) for c in self.children)

    def change_day(self, profile: Profile, today: int) -> int | None:
        return _earliest(c.change_day(profile, today) for c in self.children)

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(c.reads() for c in self.children))

    def describe(self) -> str:
        return "any of"

    def explain(self, profile: Profile, today: int) -> Explanation:
        parts = tuple(c.explain(profile, today) for c in self.children)
        return Explanation("any of these", any(p.holds for p in parts), parts)


@dataclass(frozen=True, slots=True)
class Not:
    child: Condition

    def holds(self, profile: Profile, today: int) -> bool:
        return not self.child.holds(profile, today)

    def change_day(self, profile: Profile, today: int) -> int | None:
        return self.child.change_day(profile, today)

    def reads(self) -> frozenset[str]:
        return self.child.reads()

    def describe(self) -> str:
        return "not"

    def explain(self, profile: Profile, today: int) -> Explanation:
        inner = self.child.explain(profile, today)
        return Explanation("none of this", not inner.holds, (inner,))


def _earliest(days: Iterable[int | None]) -> int | None:
    known = [d for d in days if d is not None]
    return min(known) if known else None


@dataclass(frozen=True, slots=True)
class Member:
    """Membership of a public (consent) or private (staff) group: no rules, a record."""

    group_id: str
    kind: str  # "public" | "private"
    reads_key: str = dataclass_field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reads_key", "consent" if self.kind == "public" else "staff")

    def holds(self, profile: Profile, today: int) -> bool:
        ids = profile.consented_groups if self.kind == "public" else profile.staff_group_ids
        return self.group_id in ids

    def change_day(self, profile: Profile, today: int) -> int | None:
        return None

    def reads(self) -> frozenset[str]:
        return frozenset({self.reads_key})

    def describe(self) -> str:
        return "opted in" if self.kind == "public" else "added by staff"

    def explain(self, profile: Profile, today: int) -> Explanation:
        records = profile.consents if self.kind == "public" else profile.staff_groups
        record = records.get(self.group_id)
        if record is None:
            what = "never opted in" if self.kind == "public" else "never added by staff"
            return Explanation(what, False)
        yes = getattr(record, "granted", getattr(record, "member", False))
        verb = ("opted in" if yes else "opted out") if self.kind == "public" else (
            "added" if yes else "removed")
        who = f" by {record.staff_id}" if getattr(record, "staff_id", None) else ""
        when = record.at.strftime("%d/%m/%Y %H:%M")
        return Explanation(f"{verb} on {when} via {record.source}{who}", bool(yes))
