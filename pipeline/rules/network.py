"""All groups compiled into one network: each distinct condition is a shared node.

Groups over the same few brands and categories repeat the same rows ("viewed
Sony in the last 30 days" in dozens of groups). Here every structurally equal
leaf condition (same field, action, values, count and window: the frozen
dataclasses' equality) is one node, evaluated at most once per subject, day
and evaluation, and a group is only a tree of node numbers combined with
all/any/not. The answers are the conditions' own (the oracle in
:mod:`pipeline.rules.evaluator` evaluates the same leaves): membership,
explanation and the next-change day, candidate by candidate, including
``MAX_CANDIDATE_DAYS`` and the one-way shortcuts of :mod:`pipeline.rules.monotone`.
Which nodes an event can move is :mod:`pipeline.rules.delta`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeAlias, cast

from pipeline.memo import Memo
from pipeline.profile import Profile
from pipeline.profile.model import Kind
from pipeline.rules.behaviour import Behaviour
from pipeline.rules.compiler import CompiledGroup
from pipeline.rules.conditions import All, Any, Compare, Condition, Explanation, Not
from pipeline.rules.days import day_back, evaluation_scope, first_day_reaching
from pipeline.rules.evaluator import MAX_CANDIDATE_DAYS

# A group as a tree of node numbers: a leaf's number, or (kind, children).
ALL, ANY, NOT = 0, 1, 2
Plan: TypeAlias = int | tuple[int, tuple["Plan", ...]]
_TEXT = {ALL: "all of these", ANY: "any of these", NOT: "none of this"}
# The profile buckets a row sums when it names its values (None: wildcards, text matches: its own sum).
Buckets = tuple[tuple[Kind, str], ...]
_NO_VALUES: Mapping[str, dict[int, int]] = MappingProxyType({})
ANSWERS_PER_NODE = 4096  # remembered (value, day) answers of one field comparison


def buckets_of(row: Behaviour) -> Buckets | None:
    if not row.values or row.contains or (
            "searched" in row.actions and row.field.dimension in ("brand", "category")):
        return None
    return tuple(((action, row.field.dimension), value)
                 for action in row.actions for value in sorted(row.values))


class GroupPlan:
    """One group in the network: its tree, its leaves, and what time can do to it."""

    __slots__ = ("group", "id", "key", "leaves", "plan", "time_can_join", "time_can_leave", "time_dependent")

    def __init__(self, group: CompiledGroup, plan: Plan, leaves: tuple[int, ...], key: int) -> None:
        # key: the plan's number in its network, equal for equal trees; a leaf's is its node number,
        # a tree's is negative. Not id(plan): compiled code (mypyc) unboxes fixed-length tuples and
        # re-boxes them on use, so an id names a temporary and is reused by another group's tree.
        self.group, self.id, self.plan, self.leaves, self.key = group, group.id, plan, leaves, key
        self.time_dependent = group.time_dependent
        self.time_can_join, self.time_can_leave = group.time_can_join, group.time_can_leave


class RuleNetwork:
    """Shared condition nodes, the groups built on them, and the event keys that reach them."""

    def __init__(self, groups: Iterable[CompiledGroup]) -> None:
        self.nodes: list[Condition] = []
        self._number: dict[Condition, int] = {}
        self.plans: dict[str, GroupPlan] = {}
        plan_keys: dict[Plan, int] = {}  # equal trees, one key: decided once per evaluation
        for group in groups:
            plan = self._compile(group.condition)
            plan_key = plan if isinstance(plan, int) else plan_keys.setdefault(plan, -1 - len(plan_keys))
            self.plans[group.id] = GroupPlan(group, plan, tuple(sorted(_leaves(plan))), plan_key)
        readers: list[list[str]] = [[] for _ in self.nodes]
        for gid, gp in self.plans.items():
            for number in gp.leaves:
                readers[number].append(gid)
        self.readers: tuple[tuple[str, ...], ...] = tuple(tuple(r) for r in readers)
        self.buckets: tuple[Buckets | None, ...] = tuple(
            buckets_of(node) if isinstance(node, Behaviour) else None for node in self.nodes)
        # A field comparison's answer and change day depend on the field's value and the day
        # alone: remembered per node, (value, day) -> (holds, change day), shared by every
        # subject (a back-fill over a million profiles sees a few hundred distinct values).
        self.answers: tuple[Memo[tuple[object, int], tuple[bool, int | None]] | None, ...] = tuple(
            Memo(ANSWERS_PER_NODE) if isinstance(node, Compare) else None for node in self.nodes)
        self.by_key: dict[str, list[int]] = {}
        for number, condition in enumerate(self.nodes):
            for key in condition.reads():
                self.by_key.setdefault(key, []).append(number)

    def _compile(self, condition: Condition) -> Plan:
        if isinstance(condition, All):
            return ALL, tuple(self._compile(c) for c in condition.children)
        if isinstance(condition, Any):
            return ANY, tuple(self._compile(c) for c in condition.children)
        if isinstance(condition, Not):
            return NOT, (self._compile(condition.child),)
        number = self._number.get(condition)
        if number is None:
            number = self._number[condition] = len(self.nodes)
            self.nodes.append(condition)
        return number

    def evaluation(self, profile: Profile, today: int) -> Evaluation:
        return Evaluation(self, profile, today)


class Evaluation:
    """One subject at one moment: node answers are computed once and remembered.

    Only valid while the profile does not change; callers hold it inside
    ``evaluation_scope(profile)`` so that behaviour rows share their per-day sums.
    """

    __slots__ = ("answers", "buckets", "changes", "decided", "last", "newest", "nodes", "now", "other", "profile",
                 "today")

    def __init__(self, network: RuleNetwork, profile: Profile, today: int) -> None:
        self.nodes, self.buckets, self.answers = network.nodes, network.buckets, network.answers
        self.profile, self.today = profile, today
        self.now: dict[int, bool] = {}  # node -> holds today
        self.other: dict[tuple[int, int], bool] = {}  # (node, day) -> holds that day
        self.changes: dict[tuple[int, int], int | None] = {}  # (node, day) -> its change_day
        self.newest: dict[tuple[object, ...], list[tuple[int, int]]] = {}  # signature -> (day, count), newest first
        self.decided: dict[int, tuple[bool, int | None]] = {}  # a plan's key -> membership, next change
        self.last: tuple[int, int, tuple[bool, int | None]] | None = None  # the latest field answer

    def group(self, gp: GroupPlan) -> tuple[bool, int | None]:
        """Membership today and the next-change day; groups with equal trees share the answer."""
        key = gp.key
        found = self.decided.get(key)
        if found is None:
            holds = self.decide(gp.plan, self.today)
            found = self.decided[key] = holds, self.next_change_day(gp, holds)
        return found

    def _answer(self, number: int, day: int) -> tuple[bool, int | None]:
        """A field comparison's (holds, change day) on ``day``, from the node's memo by value."""
        last = self.last
        if last is not None and last[0] == number and last[1] == day:
            return last[2]  # a one-comparison group asks for its answer, then its change day
        node = cast(Compare, self.nodes[number])
        actual = node.field.extract(self.profile, node.policy)
        memo = self.answers[number]
        assert memo is not None
        found = memo.get((actual, day))
        if found is None:
            found = memo.put((actual, day), (node._test(actual, day), node.change_from(actual, day)))  # noqa: SLF001 - its own test
        self.last = number, day, found
        return found

    def node(self, number: int, day: int) -> bool:
        if day == self.today:
            found = self.now.get(number)
            if found is None:
                buckets = self.buckets[number]
                if buckets is not None:
                    found = self._count(buckets, self.nodes[number], day)  # type: ignore[arg-type]  # buckets: a row's
                elif self.answers[number] is not None:
                    found = self._answer(number, day)[0]
                else:
                    found = self.nodes[number].holds(self.profile, day)
                self.now[number] = found
            return found
        key = (number, day)
        found = self.other.get(key)
        if found is None:
            row = self.nodes[number]
            if isinstance(row, Behaviour) and day > self.today:
                # A row's count only falls as days pass (its window loses events, a fixed or no
                # window keeps them): it holds later only if it holds today, until its change day.
                if not self.node(number, self.today):
                    found = False
                elif row.within is None:
                    found = True
                else:
                    until = self._change(number, row, self.today)
                    found = until is None or day < until
            elif self.answers[number] is not None:
                found = self._answer(number, day)[0]
            else:
                found = row.holds(self.profile, day)
            self.other[key] = found
        return found

    def _count(self, buckets: Buckets, row: Behaviour, day: int) -> bool:
        """``row.holds`` from the row's own buckets: most subjects have none of them, and no merged copy."""
        behaviour = self.profile.behaviour
        parts = [found for kind, value in buckets if (found := behaviour.get(kind, _NO_VALUES).get(value))]
        if not parts:
            return False  # at_least is 1 or more
        if row.within is not None:
            start = day_back(row.within, day) + 1
            total = sum(c for days in parts for d, c in days.items() if d >= start)
        elif row.between is not None:
            low, high = row.between
            total = sum(c for days in parts for d, c in days.items() if low <= d <= high)
        else:
            total = sum(sum(days.values()) for days in parts)
        return total >= row.at_least

    def _change(self, number: int, row: Behaviour, day: int) -> int | None:
        key = (number, day)
        if key in self.changes:
            return self.changes[key]
        found = self.changes[key] = self._row_change(number, row, day)
        return found

    def decide(self, plan: Plan, day: int) -> bool:
        """The tree over node answers, short-circuited as ``all``/``any`` are."""
        if isinstance(plan, int):
            return self.node(plan, day)
        kind, children = plan
        if kind == ALL:
            for child in children:  # noqa: SIM110 - a loop: all() over a generator costs more here
                if not self.decide(child, day):
                    return False
            return True
        if kind == ANY:
            for child in children:  # noqa: SIM110 - as above
                if self.decide(child, day):
                    return True
            return False
        return not self.decide(children[0], day)

    def change_day(self, gp: GroupPlan, day: int) -> int | None:
        """The group's ``condition.change_day``: the earliest of its leaves' (blocks take the minimum)."""
        earliest: int | None = None
        changes, nodes = self.changes, self.nodes
        for number in gp.leaves:
            key = (number, day)
            if key in changes:
                found = changes[key]
            else:
                node = nodes[number]
                found = changes[key] = (self._row_change(number, node, day) if isinstance(node, Behaviour)
                                        else self._answer(number, day)[1] if self.answers[number] is not None
                                        else node.change_day(self.profile, day))
            if found is not None and (earliest is None or found < earliest):
                earliest = found
        return earliest

    def _row_change(self, number: int, row: Behaviour, day: int) -> int | None:
        """``Behaviour.change_day`` with its answer and its days sorted once per row signature."""
        if row.within is None or not self.node(number, day):
            return None  # no rolling window, or not holding: only new events change it
        buckets = self.buckets[number]
        if row.at_least == 1 and buckets is not None:
            # Its newest counted day alone leaves the window last: no merged and sorted copy.
            behaviour = self.profile.behaviour
            last: int | None = None
            for kind, value in buckets:
                days = behaviour.get(kind, _NO_VALUES).get(value)
                if days:
                    top = max(days)
                    if last is None or top > last:
                        last = top
            if last is not None:
                return max(first_day_reaching(row.within, last), day + 1)
        newest = self.newest.get(row.signature)
        if newest is None:
            newest = self.newest[row.signature] = sorted(
                row._days(self.profile).items(), reverse=True)  # noqa: SLF001 - the row's own sums
        running = 0
        for when, count in newest:
            running += count
            if running >= row.at_least:  # the row stops holding when that day leaves the window
                return max(first_day_reaching(row.within, when), day + 1)
        return None

    def next_change_day(self, gp: GroupPlan, current: bool) -> int | None:
        """:func:`pipeline.rules.evaluator.next_change_day`, over shared nodes."""
        if not gp.time_dependent or not (gp.time_can_leave if current else gp.time_can_join):
            return None
        if isinstance(gp.plan, int):
            node = self.nodes[gp.plan]
            if isinstance(node, Behaviour):
                return self.change_day(gp, self.today)  # one row: it stops holding on its change day, for good
            if self.answers[gp.plan] is not None:  # one comparison: its change day is checked to differ
                return self._answer(gp.plan, self.today)[1]
        day = self.today
        for _ in range(MAX_CANDIDATE_DAYS):
            candidate = self.change_day(gp, day)
            if candidate is None:
                return None
            if self.decide(gp.plan, candidate) != current:
                return candidate
            day = candidate
        return day  # a conservative re-check: never later than a real change

    def explain(self, plan: Plan) -> Explanation:
        """The same tree of reasons as ``condition.explain``; each leaf's from its node."""
        if isinstance(plan, int):
            return self.nodes[plan].explain(self.profile, self.today)
        kind, children = plan
        parts = tuple(self.explain(child) for child in children)
        holds = (all(p.holds for p in parts) if kind == ALL else any(p.holds for p in parts) if kind == ANY
                 else not parts[0].holds)
        return Explanation(_TEXT[kind], holds, parts)


def _leaves(plan: Plan) -> set[int]:
    if isinstance(plan, int):
        return {plan}
    found: set[int] = set()
    for child in plan[1]:
        found |= _leaves(child)
    return found


def decide_all(network: RuleNetwork, groups: Iterable[CompiledGroup], profile: Profile, today: int,
               evaluation: Evaluation | None = None) -> dict[str, tuple[bool, int | None]]:
    """Membership and next-change day of each group, sharing node answers between them."""
    out: dict[str, tuple[bool, int | None]] = {}
    with evaluation_scope(profile):
        ev = evaluation or Evaluation(network, profile, today)
        plans = network.plans
        for group in groups:
            out[group.id] = ev.group(plans[group.id])
    return out
