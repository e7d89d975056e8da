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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import Any as Dynamic
from typing import Protocol

from pipeline.profile import Profile, ProfilePolicy
from pipeline.rules.days import day_back, first_day_reaching
from pipeline.rules.fields import Op, ScalarField, op_label
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
            return day_back(operand.duration, today)
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
            return bool(actual > day_back(values[0], today))
        if op == "not_in_last":
            return bool(actual <= day_back(values[0], today))
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
                candidates.add(max(first_day_reaching(duration, reached), today + 1))
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
