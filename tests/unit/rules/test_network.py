"""Properties: the shared network answers exactly as evaluating every group on its own.

The reference oracle is :mod:`pipeline.rules.evaluator` (each group's own
condition tree). Groups are drawn from a small pool of rows, so many share
conditions, with nested blocks, negation, windows and counts; events are the
contract's, as in ``test_properties``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.processor import SubjectProcessor
from pipeline.profile import fold, new_profile
from pipeline.registry import GroupRegistry
from pipeline.rules import evaluation_scope, matches, memberships, next_change_day
from pipeline.rules.network import GroupPlan, decide_all
from schemas.groups import GroupDefinition

from .conftest import NOW, POLICY, order, view
from .test_properties import events

FIXED = [{"id": "1", "name": "Newsletter", "type": "public"}, {"id": "7", "name": "Post", "type": "private"}]
WINDOWS = [None, None, "3 days", "30 days", "90 days"]
AGGREGATES: list[list[Any]] = [
    ["orders", "greater than", 0], ["orders", "greater than", 1], ["orders", "equals", 0],
    ["totalspend", "greater than", "£500"], ["averagespend", "less than", "£300"],
    ["lastorder", "in the last", "30 days"], ["lastorder", "not in the last", "30 days"],
    ["lastseen", "in the last", "7 days"], ["lastseen", "not in the last", "14 days"],
    ["firstorder", "before", "60 days ago"], ["datejoined", "greater than", "30 days ago"],
    ["datejoined", "between", ["90 days ago", "10 days ago"]],
    ["registered", "equals", "yes"], ["consent", "contains", "Newsletter"], ["emaildomain", "equals", "example.com"],
]


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 2)) == 0:
        field, op, value = draw(st.sampled_from(AGGREGATES))
        return {"field": field, "operator": op, "value": value}
    field = draw(st.sampled_from(["brand", "category", "product", "search"]))
    values = {"brand": ["Sony", "Lego", "Acme", "*", ["Sony", "Lego"]], "category": ["TV", "Fruit", "*"],
              "product": ["p0", "p1", "*"], "search": ["sony", "tv"]}[field]
    row: dict[str, Any] = {"field": field, "value": draw(st.sampled_from(values)),
                           "operator": "contains" if field == "search" else draw(
                               st.sampled_from(["viewed", "viewed", "searched", "basket", "ordered", "any"]))}
    window = draw(st.sampled_from([*WINDOWS, "between"]))
    if window == "between":
        row["between"] = ["01/09/2025", "15/11/2025"]
    elif window:
        row["within"] = window
    at_least = draw(st.sampled_from([None, None, 2, 3]))
    if at_least:
        row["at_least"] = at_least
    return row


def nodes(depth: int = 2) -> st.SearchStrategy[Any]:
    if depth == 0:
        return rows()
    inner = nodes(depth - 1)
    return st.one_of(
        rows(), rows(),
        st.lists(inner, min_size=1, max_size=3).map(lambda kids: {"any": kids}),
        st.lists(inner, min_size=1, max_size=3).map(lambda kids: {"all": kids}),
        inner.map(lambda kid: {"not": kid}),
    )


@st.composite
def definitions(draw: st.DrawFn) -> list[GroupDefinition]:
    # A small pool of nodes that groups draw from: shared conditions, as in a real shop.
    pool = draw(st.lists(nodes(), min_size=2, max_size=8))
    out = [GroupDefinition.model_validate(d) for d in FIXED]
    for i in range(draw(st.integers(1, 10))):
        picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        rules = []
        for j, node in enumerate(picked):
            if j and "field" in node:
                node = {**node, "connector": draw(st.sampled_from(["and", "or"]))}
            rules.append(node)
        out.append(GroupDefinition.model_validate({"id": str(100 + i), "name": f"g{i}", "type": "dynamic",
                                                   "rules": rules}))
    return out


def registry_of(defs: list[GroupDefinition]) -> GroupRegistry:
    registry = GroupRegistry.from_definitions(defs, POLICY)
    assert not registry.errors, registry.errors
    return registry


@settings(max_examples=300, deadline=None)
@given(definitions(), events(), st.integers(-5, 120))
def test_the_network_answers_as_each_group_on_its_own(defs: list[GroupDefinition], batch: list[Any],
                                                        shift: int) -> None:
    """Membership, explanation and next-change day of every group, on any day."""
    registry = registry_of(defs)
    profile = new_profile("c:c1")
    for event in batch:
        fold(profile, event, POLICY)
    today = POLICY.day_of(NOW) + shift
    network = registry.network
    decided = decide_all(network, registry.groups.values(), profile, today)
    with evaluation_scope(profile):
        ev = network.evaluation(profile, today)
        for gid, group in registry.groups.items():
            holds = matches(group, profile, today)
            assert decided[gid] == (holds, next_change_day(group, profile, today, holds)), gid
            assert ev.explain(network.plans[gid].plan) == group.condition.explain(profile, today), gid
    shared = sum(len(gp.leaves) for gp in network.plans.values())
    assert len(network.nodes) <= shared  # equal leaves are one node
    plans = list(network.plans.values())
    for a in plans:
        for b in plans:
            assert (a.key == b.key) == (a.plan == b.plan), (a.id, b.id)  # one key per distinct tree


def test_equal_trees_share_a_decision_by_key_not_by_object_identity() -> None:
    """Decisions are memoised per evaluation by a key fixed when the network is compiled.

    The memo once keyed trees by ``id(plan)``. Compiled with mypyc, a fixed-length tuple
    attribute is unboxed and re-boxed on every read, so each read's id named a temporary
    that the next group's tree reused: "not (orders > 0)" got the answer of
    "orders > 0". Here every read of a plan is a fresh, equal tuple, as under mypyc.
    """
    rows = {"A": [["orders", "greater than", 0]], "B": [{"not": ["orders", "greater than", 0]}],
            "C": [{"not": ["orders", "greater than", 0]}],
            "D": [{"all": [["orders", "greater than", 0], {"field": "brand", "operator": "viewed", "value": "Sony"}]}]}
    registry = registry_of([*(GroupDefinition.model_validate(d) for d in FIXED), *(
        GroupDefinition.model_validate({"id": gid, "name": gid, "type": "dynamic", "rules": r})
        for gid, r in rows.items())])
    network = registry.network
    keys = {gid: network.plans[gid].key for gid in rows}
    assert keys["A"] == network.plans["A"].plan and keys["A"] >= 0  # a leaf's key is its node number
    assert keys["B"] == keys["C"] and keys["B"] < 0 and keys["D"] < 0 and len(set(keys.values())) == 3

    def rebox(plan: Any) -> Any:
        return plan if isinstance(plan, int) else (plan[0], tuple(rebox(p) for p in plan[1]))

    class Reboxed(GroupPlan):
        """Every read of ``plan`` is a fresh, equal tuple that dies after use, as under mypyc."""

        __slots__ = ("tree",)
        plan = property(lambda self: rebox(self.tree))  # type: ignore[assignment]

    def reboxed(gp: GroupPlan) -> GroupPlan:
        out = Reboxed.__new__(Reboxed)
        for name in ("group", "id", "key", "leaves", "time_can_join", "time_can_leave", "time_dependent"):
            setattr(out, name, getattr(gp, name))
        out.tree = gp.plan
        return out

    profile = new_profile("c:c1")
    fold(profile, view(NOW), POLICY)
    today = POLICY.day_of(NOW)
    with evaluation_scope(profile):
        ev = network.evaluation(profile, today)
        answers = {gid: ev.group(reboxed(network.plans[gid]))[0] for gid in rows}
    assert answers == {"A": False, "B": True, "C": True, "D": False}


@settings(max_examples=300, deadline=None)
@given(definitions(), events(), st.lists(st.integers(0, 40), min_size=12, max_size=12),
       st.lists(st.booleans(), min_size=12, max_size=12), st.booleans())
def test_the_processor_keeps_every_groups_membership_exact_as_events_and_days_pass(
        defs: list[GroupDefinition], batch: list[Any], gaps: list[int], timer: list[bool], visitor: bool) -> None:
    """Events arrive over days (re-checks run when due, as the worker's timer does): after every step
    the stored groups are what evaluating every group says, and the re-check day is never late."""
    registry = registry_of(defs)
    processor = SubjectProcessor(registry, POLICY)
    subject = "v:v1" if visitor else "c:c1"
    profile, next_check = None, None
    start = NOW - timedelta(days=100)
    for event, gap, ticked in zip(batch, gaps, timer, strict=False):
        if visitor:
            if event.type not in ("view", "search", "basket", "wishlist", "order"):
                continue
            event = event.model_copy(update={"customer_id": None})
        now = start + timedelta(days=gap)
        start = now
        today = POLICY.day_of(now)
        if ticked and profile is not None and next_check is not None and next_check <= today:
            due = processor.on_recheck(profile, next_check, now)  # else on_event finds it due
            if due.store:
                profile, next_check = due.profile, due.next_check
        result = processor.on_event(profile, next_check, subject, event, now)
        if result.store:
            profile, next_check = result.profile, result.next_check
        if profile is None:
            continue
        if next_check is not None and next_check <= today:  # a no-op event left it due: the timer's turn
            due = processor.on_recheck(profile, next_check, now)
            if due.store:
                profile, next_check = due.profile, due.next_check
        assert profile is not None
        expected, earliest = memberships(registry.groups.values(), profile, today)
        assert profile.groups == set(expected), (event.type, today)
        if earliest is not None:
            assert next_check is not None and next_check <= earliest
    if profile is None:
        return
    for days in range(1, 130, 3):  # no more events: only re-checks
        now = start + timedelta(days=days)
        today = POLICY.day_of(now)
        if next_check is not None and next_check <= today:
            due = processor.on_recheck(profile, next_check, now)
            if due.store:
                profile, next_check = due.profile, due.next_check
        assert profile is not None
        expected, _ = memberships(registry.groups.values(), profile, today)
        assert profile.groups == set(expected), today


def test_a_first_order_can_end_not_ordered_over_30_days_ago() -> None:
    """Found by the property above: a missing last-order day compares false, so a first order can
    make "not in the last 30 days" true later, and a member of its negation must get a re-check day."""
    defs = [*(GroupDefinition.model_validate(d) for d in FIXED), GroupDefinition.model_validate(
        {"id": "100", "name": "g", "type": "dynamic", "rules": [{"not": ["lastorder", "not in the last", "30 days"]}]})]
    registry = registry_of(defs)
    assert registry.groups["100"].can_leave_on == {"orders"}
    processor = SubjectProcessor(registry, POLICY)
    first = processor.on_event(None, None, "c:c1", view(NOW), NOW)
    assert first.profile is not None and first.profile.groups == {"100"} and first.next_check is None
    ordered = processor.on_event(first.profile, None, "c:c1", order("10", NOW), NOW)
    assert ordered.profile is not None and ordered.profile.groups == {"100"}
    assert ordered.next_check == POLICY.day_of(NOW) + 30  # the order leaves the 30 days then


def test_a_count_of_two_in_a_window_ends_when_the_second_newest_view_leaves_it() -> None:
    """A row of one bucket and a threshold of one ends with its newest day (``_row_change``'s
    shortcut); with a threshold of two it ends when the second newest leaves the window."""
    rule = {"field": "brand", "operator": "viewed", "value": "Sony", "within": "7 days"}
    defs = [GroupDefinition.model_validate({"id": gid, "name": f"g{gid}", "type": "dynamic", "rules": [row]})
            for gid, row in (("1", rule), ("2", {**rule, "at_least": 2}))]
    registry = registry_of(defs)
    profile = new_profile("v:v1")
    for days in (5, 1, 0):
        fold(profile, view(NOW - timedelta(days=days)), POLICY)
    today = POLICY.day_of(NOW)
    decided = decide_all(registry.network, registry.groups.values(), profile, today)
    assert decided == {"1": (True, today + 7), "2": (True, today + 6)}  # today's view, then day -1's, leave
    for gid, group in registry.groups.items():
        assert decided[gid] == (True, next_change_day(group, profile, today, True)), gid
