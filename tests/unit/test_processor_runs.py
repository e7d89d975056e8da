"""A subject's events decided together (``SubjectProcessor.on_events``) leave what deciding
after each event leaves: the same groups, the same Redis writes (mirrors included), and a
re-check day never later than the first day evaluating every group says anything changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import event as note
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.processor import Result, SubjectProcessor
from pipeline.profile import Profile, ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.rules import memberships
from schemas.events import EVENT_ADAPTER
from schemas.groups import GroupDefinition

from .rules.conftest import NOW, order, signup, view
from .rules.test_network import definitions
from .rules.test_properties import events

# Tight caps, so that runs meet events that prune (60-day retention) and evict (3 values per kind).
POLICY = ProfilePolicy(timezone="Europe/London", retention_days=60, currency="GBP", max_keys_per_kind=3,
                       max_visitor_ids=2)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[Any], list[int]]:
    """Events with other cookies, repeats and logins among them, cut into batches (sizes)."""
    out = []
    for event in draw(events()):
        update: dict[str, Any] = {"visitor_id": draw(st.sampled_from(["v1", "v1", "v2", "v3", None]))}
        if update["visitor_id"] is None and event.customer_id is None:
            update["visitor_id"] = "v1"
        out.append(event.model_copy(update=update))
        if draw(st.integers(0, 5)) == 0:
            out.append(out[draw(st.integers(0, len(out) - 1))])  # a repeat (redelivery)
        if draw(st.integers(0, 2)) == 0:  # the same thing again, a new event: counts that cross thresholds
            again = out[draw(st.integers(0, len(out) - 1))]
            out.append(again.model_copy(update={"event_id": f"r{len(out)}", "occurred_at": again.occurred_at
                                                + timedelta(hours=draw(st.integers(0, 30)))}))
        if draw(st.integers(0, 8)) == 0:
            out.append(EVENT_ADAPTER.validate_python({
                "type": "identify", "event_id": f"i{len(out)}", "occurred_at": event.occurred_at.isoformat(),
                "customer_id": "c1", "visitor_id": draw(st.sampled_from(["v1", "v4"]))}))
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=len(out)))
    return out, sizes


class Redis:
    """What the writer shows of results: each subject's groups, and each mirrored cookie's
    (the changes, and a mirror rewritten whole where the result says so)."""

    def __init__(self) -> None:
        self.sets: dict[str, set[str]] = {}

    def apply(self, subject: str, result: Result) -> None:
        change = result.change
        for key in (subject, *change.mirrors):
            members = self.sets.setdefault(key, set())
            members |= change.joined
            members -= change.left | change.dropped
            if not members:
                del self.sets[key]  # Redis keeps no empty set
        for key in change.reset_mirrors:  # rewritten whole, after the changes (pipeline.store.writer.plan)
            self.sets.pop(key, None)
            if change.groups:
                self.sets[key] = set(change.groups)


class Subject:
    def __init__(self, registry: GroupRegistry, subject: str) -> None:
        self.processor = SubjectProcessor(registry, POLICY)
        self.subject = subject
        self.profile: Profile | None = None
        self.next_check: int | None = None
        self.redis = Redis()

    def take(self, result: Result) -> None:
        self.redis.apply(self.subject, result)
        if result.store:
            self.profile, self.next_check = result.profile, result.next_check

    def due(self, now: Any) -> None:
        """The worker's timer: a re-check whose day has come."""
        if self.profile is not None and self.next_check is not None and self.next_check <= POLICY.day_of(now):
            self.take(self.processor.on_recheck(self.profile, self.next_check, now))


@settings(max_examples=400, deadline=None)
@given(definitions(), sessions(), st.lists(st.integers(0, 30), min_size=12, max_size=12), st.booleans())
def test_events_decided_together_leave_what_each_decided_alone_leaves(
        defs: list[GroupDefinition], session: tuple[list[Any], list[int]], gaps: list[int], visitor: bool) -> None:
    registry = GroupRegistry.from_definitions(defs, POLICY)
    assert not registry.errors, registry.errors
    subject = "v:v1" if visitor else "c:c1"
    alone, together = Subject(registry, subject), Subject(registry, subject)
    batch_events, sizes = session
    if visitor:
        batch_events = [e.model_copy(update={"customer_id": None, "visitor_id": "v1"}) for e in batch_events
                        if e.type in ("view", "search", "basket", "wishlist", "order")]
    now = NOW - timedelta(days=100)
    runs = 0
    for size, gap in zip(sizes, gaps * len(sizes), strict=False):
        batch, batch_events = batch_events[:size], batch_events[size:]
        if not batch:
            break
        now += timedelta(days=gap)
        for side in (alone, together):
            side.due(now)
        for event in batch:
            alone.take(alone.processor.on_event(alone.profile, alone.next_check, subject, event, now))
        done = 0
        while done < len(batch):
            result, taken = together.processor.on_events(together.profile, together.next_check, subject,
                                                         batch[done:], now)
            assert 1 <= taken <= len(batch) - done
            together.take(result)
            done += taken
            runs = max(runs, taken)
        note(f"longest run {min(runs, 3)}")
        assert together.redis.sets == alone.redis.sets, [e.type for e in batch]
        assert (together.profile is None) == (alone.profile is None)
        if together.profile is None:
            continue
        assert together.profile.groups == alone.profile.groups  # type: ignore[union-attr]
        today = POLICY.day_of(now)
        expected, earliest = memberships(registry.groups.values(), together.profile, today)
        assert together.profile.groups == set(expected)
        if earliest is not None:
            assert together.next_check is not None and together.next_check <= earliest


# --- where a run must stop -------------------------------------------------------------

def _dynamic(gid: str, *rules: dict[str, Any]) -> GroupDefinition:
    return GroupDefinition.model_validate({"id": gid, "name": f"g{gid}", "type": "dynamic", "rules": list(rules)})


def _processor(*defs: GroupDefinition) -> SubjectProcessor:
    registry = GroupRegistry.from_definitions(list(defs), POLICY)
    assert not registry.errors, registry.errors
    return SubjectProcessor(registry, POLICY)


def _stored(processor: SubjectProcessor, subject: str, *events: Any) -> tuple[Profile, int | None]:
    """A subject's profile after ``events``, each decided alone."""
    profile, next_check = None, None
    for e in events:
        result = processor.on_event(profile, next_check, subject, e, NOW)
        if result.store:
            profile, next_check = result.profile, result.next_check
    assert profile is not None
    return profile, next_check


def test_two_views_in_one_run_cross_a_threshold_of_two() -> None:
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony", "at_least": 2}))
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=3), brand="Acme"))
    result, taken = processor.on_events(profile, next_check, "v:v1",
                                        [view(NOW - timedelta(days=2)), view(NOW - timedelta(days=1))], NOW)
    assert taken == 2 and result.joined == {"2"}


def test_a_run_stops_before_an_event_that_prunes_old_behaviour() -> None:
    # 60 days kept: a view on day -1 prunes day -100's Sony view, and the lifetime group must be left.
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony"}))
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=100)))
    assert profile.groups == {"2"}
    run = [view(NOW - timedelta(days=90), brand="Acme"), view(NOW - timedelta(days=1), brand="Lego")]
    first, taken = processor.on_events(profile, next_check, "v:v1", run, NOW)
    assert taken == 1 and first.store
    second, taken = processor.on_events(first.profile, first.next_check, "v:v1", run[1:], NOW)
    assert taken == 1 and second.left == {"2"}


def test_a_customers_run_stops_before_an_event_with_a_new_cookie() -> None:
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony"}))
    profile, next_check = _stored(processor, "c:c1", view(NOW - timedelta(days=5), brand="Acme", customer_id="c1",
                                                          visitor_id="v1"))
    run = [view(customer_id="c1", visitor_id="v1"), view(brand="Lego", customer_id="c1", visitor_id="v2")]
    result, taken = processor.on_events(profile, next_check, "c:c1", run, NOW)
    assert taken == 1 and result.joined == {"2"} and result.mirrors == ("v:v1",)  # v2 mirrors from its event on


def test_an_event_that_touches_everything_is_decided_alone() -> None:
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony"}))
    profile, next_check = _stored(processor, "c:c1", view(customer_id="c1", visitor_id="v1"))
    identify = EVENT_ADAPTER.validate_python({"type": "identify", "event_id": "i1", "customer_id": "c1",
                                              "visitor_id": "v1", "occurred_at": NOW.isoformat()})
    assert processor.on_events(profile, next_check, "c:c1", [identify, view(customer_id="c1")], NOW)[1] == 1
    assert processor.on_events(profile, next_check, "c:c1", [view(customer_id="c1"), identify], NOW)[1] == 1


# --- a window's edges, where the counts before and after a run are compared ------------------

def test_a_view_on_a_windows_first_day_counts_towards_the_threshold() -> None:
    # "within 7 days" holds today and the 6 days before it: the stored view on day -6 and
    # today's make 2. Its count before the run is what the run added taken from its count now.
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony",
                                          "at_least": 2, "within": "7 days"}))
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=6)))
    assert profile.groups == set()
    result, taken = processor.on_events(profile, next_check, "v:v1", [view(NOW)], NOW)
    assert taken == 1 and result.joined == {"2"}


def test_a_view_the_day_before_a_window_does_not_count() -> None:
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony",
                                          "at_least": 2, "within": "7 days"}))
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=7)))
    result, taken = processor.on_events(profile, next_check, "v:v1", [view(NOW)], NOW)
    assert taken == 1 and not result.joined and result.profile.groups == set()  # type: ignore[union-attr]


def test_a_late_event_on_a_windows_first_day_is_counted_as_added() -> None:
    # The run's own event sits on the window's first day (it arrived late): it moved the count.
    processor = _processor(_dynamic("2", {"field": "brand", "operator": "viewed", "value": "Sony",
                                          "at_least": 2, "within": "7 days"}))
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=1)))
    result, taken = processor.on_events(profile, next_check, "v:v1", [view(NOW - timedelta(days=6))], NOW)
    assert taken == 1 and result.joined == {"2"}


def test_a_cookie_linked_by_a_customer_s_event_shows_the_customer_s_whole_list_however_events_are_grouped() -> None:
    """Found by the property above: a signup from a new cookie v2 takes the customer out of
    "no newsletter consent, or more than one order", and the order after it puts them back.
    Decided one by one, v2 saw the leave and then the join; folded as one run the group never
    moved, so v2, had it mirrored only the changes, would have missed it. A linked cookie
    starts from the customer's whole list instead, decided either way."""
    defs = [GroupDefinition.model_validate(d) for d in [
        {"id": "1", "name": "Newsletter", "type": "public"},
        {"id": "100", "name": "g0", "type": "dynamic", "rules": [
            {"not": {"field": "consent", "op": "contains", "value": "Newsletter"}},
            {"connector": "or", "field": "orders", "op": "greater than", "value": 1}]}]]
    registry = GroupRegistry.from_definitions(defs, POLICY)
    assert not registry.errors, registry.errors
    when = NOW - timedelta(days=1)
    first, again = (order("1", when).model_copy(update={"visitor_id": "v1"}) for _ in range(2))
    batch = [signup(f"{when:%d/%m/%Y}", visitor_id="v2", public_groups=["1"]), again]
    alone, together = Subject(registry, "c:c1"), Subject(registry, "c:c1")
    for side in (alone, together):
        side.take(side.processor.on_event(None, None, "c:c1", first, NOW))
        assert side.redis.sets["v:v1"] == {"100"}
    for e in batch:
        alone.take(alone.processor.on_event(alone.profile, alone.next_check, "c:c1", e, NOW))
    done = 0
    while done < len(batch):
        result, taken = together.processor.on_events(together.profile, together.next_check, "c:c1",
                                                     batch[done:], NOW)
        together.take(result)
        done += taken
    assert alone.redis.sets["v:v2"] == alone.redis.sets["c:c1"] == {"1", "100"}
    assert together.redis.sets == alone.redis.sets


def test_a_count_far_past_the_lowest_threshold_still_crosses_the_highest() -> None:
    """``delta.moved`` stops counting a window once no threshold can have flipped: at the
    highest threshold plus what the run added, not the lowest."""
    rule = {"field": "brand", "operator": "viewed", "value": "Sony", "within": "30 days"}
    processor = _processor(_dynamic("1", rule), _dynamic("3", {**rule, "at_least": 3}),
                           _dynamic("5", {**rule, "at_least": 5}))
    profile, next_check = _stored(processor, "v:v1", *(view(NOW - timedelta(days=d)) for d in (4, 3, 2, 1)))
    assert profile.groups == {"1", "3"}
    result, taken = processor.on_events(profile, next_check, "v:v1", [view(NOW)], NOW)
    assert taken == 1 and result.joined == {"5"}


def test_a_search_that_names_a_brand_counts_with_its_views_towards_a_threshold() -> None:
    """A row over a brand's views and searches sums the brand's buckets and the search queries
    that hold it as whole words (``delta._sums``), and a query that only contains it does not."""
    processor = _processor(_dynamic("3", {"field": "brand", "operator": "any", "value": "Sony", "at_least": 3}))
    search = EVENT_ADAPTER.validate_python({"type": "search", "event_id": "s1", "occurred_at": NOW.isoformat(),
                                            "visitor_id": "v1", "query": "sony headphones"})
    near = EVENT_ADAPTER.validate_python({"type": "search", "event_id": "s2", "occurred_at": NOW.isoformat(),
                                          "visitor_id": "v1", "query": "sonyx headphones"})
    profile, next_check = _stored(processor, "v:v1", view(NOW - timedelta(days=2)), near)
    assert profile.groups == set()
    result, _ = processor.on_events(profile, next_check, "v:v1", [search], NOW)
    assert result.joined == frozenset() and result.profile is not None and result.profile.groups == set()
    result, _ = processor.on_events(result.profile, result.next_check, "v:v1", [view(NOW - timedelta(days=1))], NOW)
    assert result.joined == {"3"}
