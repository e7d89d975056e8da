"""One subject's life: events, login hand-over, merge, re-checks, back-fill, erasure."""

from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.messages import Forget, Handover, MergeIn
from pipeline.processor import Result, SubjectProcessor
from pipeline.profile import decode
from pipeline.profile.stored import body_of, pack, peek_next_check, unpack
from pipeline.registry import GroupRegistry
from pipeline.rules import CompiledGroup
from schemas.groups import GroupDefinition

from .rules.conftest import NOW, POLICY, at, event, order, profile_of, signup, today, view

DEFINITIONS = [
    GroupDefinition.model_validate(d) for d in (
        {"id": "1", "name": "Newsletter", "type": "public"},
        {"id": "7", "name": "Post", "type": "private"},
        {"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]},
        {"id": "30", "name": "Recent Sony", "type": "dynamic",
         "rules": [{"field": "brand", "op": "viewed", "value": "Sony", "within": "3 days"}]},
        {"id": "20", "name": "All Customers", "type": "dynamic", "rules": [["registered", "equals", "yes"]]},
    )
]
REGISTRY = GroupRegistry.from_definitions(DEFINITIONS, POLICY)
P = SubjectProcessor(REGISTRY, POLICY)


def test_first_event_creates_a_profile_and_joins_groups() -> None:
    result = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    assert result.store and result.profile is not None
    assert result.joined == {"12", "30"} and not result.left
    assert result.next_check == today() + 2  # 3-day window from 19/11 ends 22/11
    assert result.profile.groups == {"12", "30"}


def test_a_duplicate_event_changes_nothing() -> None:
    e = view(at("19/11/2025"))
    first = P.on_event(None, None, "v:v1", e, NOW)
    again = P.on_event(first.profile, first.next_check, "v:v1", e, NOW)
    assert not again.store and not again.changes_membership


def test_events_only_reevaluate_groups_they_can_affect() -> None:
    first = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    assert first.profile is not None
    first.profile.groups.add("20")  # a stale membership an unrelated event must not touch
    other = P.on_event(first.profile, first.next_check, "v:v1", view(at("19/11/2025"), brand="Acme"), NOW)
    assert "20" in other.profile.groups and not other.left  # type: ignore[union-attr]


def test_recheck_drops_an_expired_window_and_stops_rechecking() -> None:
    first = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    later = NOW + timedelta(days=2)
    result = P.on_recheck(first.profile, first.next_check, later)
    assert result.left == {"30"} and result.next_check is None and result.store
    assert P.on_recheck(result.profile, None, later).store is False


def test_consent_and_staff_membership() -> None:
    consent = event("consent", customer_id="c1", group_id="1", granted=True, source="account")
    staff = event("staff_membership", customer_id="c1", group_id="7", action="add", source="pos", staff_id="s")
    a = P.on_event(None, None, "c:c1", consent, NOW)
    b = P.on_event(a.profile, a.next_check, "c:c1", staff, NOW)
    assert a.joined == {"1", "20"} and b.joined == {"7"}
    assert b.mirrors == ()


def test_handover_leaves_guest_groups_and_sends_the_profile() -> None:
    guest = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW).profile
    result = P.on_handover(guest, "v:v1", Handover(customer="c:c1", merge_id="login-1"))
    assert result.delete and result.dropped == {"12", "30"}
    [(key, message)] = result.outgoing
    assert key == "c:c1" and isinstance(message, MergeIn) and message.visitor == "v:v1"
    assert decode(message.profile).count("viewed", "brand", "sony") == 1  # type: ignore[arg-type]


def test_a_handover_sends_the_profile_in_the_configured_layout() -> None:
    """With CG_PROFILE_LAYOUT=whole the customer's partition may be on a worker from before
    the split layout: what it is sent must be a layout it reads."""
    guest = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW).profile
    for split_layout, first in ((True, b"\x02"), (False, b"{")):
        processor = SubjectProcessor(REGISTRY, POLICY, split_layout=split_layout)
        message = processor.on_handover(guest, "v:v1", Handover(customer="c:c1", merge_id="m")).outgoing[0][1]
        assert isinstance(message, MergeIn) and message.profile is not None
        assert message.profile[:1] == first and decode(message.profile) == guest


def test_handover_of_a_cookie_without_profile_still_reaches_the_customer() -> None:
    result = P.on_handover(None, "v:v9", Handover(customer="c:c1", merge_id="m"))
    assert not result.delete and result.outgoing[0][1] == MergeIn("v:v9", "m", None)


def test_a_cookie_without_profile_mirrors_every_group_its_customer_joins_after_the_merge() -> None:
    """The merge resets the mirror to the customer's groups *now*; a group the customer joins
    next (from another cookie's events, before this cookie's own next event) must reach it too."""
    customer = P.on_event(None, None, "c:c1", signup("05/11/2025", customer="c1"), NOW)
    merged = P.on_merge_in(customer.profile, customer.next_check, "c:c1", MergeIn("v:v9", "m", None), NOW)
    assert merged.reset_mirrors == ("v:v9",) and "v:v9" in merged.mirrors
    sony = view(at("19/11/2025"), customer="c1")
    joined = P.on_event(merged.profile, merged.next_check, "c:c1", sony, NOW)
    assert "12" in joined.joined and "v:v9" in joined.mirrors  # SADD 12 reaches the cookie's mirror


def test_a_customer_whose_first_message_is_an_empty_merge_joins_what_a_new_customer_joins() -> None:
    """The login's merge and the login event reach the customer in either order: same groups."""
    first_merge = P.on_merge_in(None, None, "c:c7", MergeIn("v:v9", "m", None), NOW)
    first_event = P.on_event(None, None, "c:c7", event("identify", customer_id="c7", visitor_id="v9"), NOW)
    assert first_merge.profile is not None and first_event.profile is not None
    assert first_merge.profile.groups == first_event.profile.groups and "20" in first_merge.joined


def test_merge_moves_guest_memberships_to_the_customer_once() -> None:
    guest = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW).profile
    message = P.on_handover(guest, "v:v1", Handover("c:c1", "login-1")).outgoing[0][1]
    customer = P.on_event(None, None, "c:c1", signup("05/11/2025", customer="c1", visitor_id="v1"), NOW)
    merged = P.on_merge_in(customer.profile, customer.next_check, "c:c1", message, NOW)  # type: ignore[arg-type]
    assert merged.joined == {"12", "30"} and merged.reset_mirrors == ("v:v1",)
    assert merged.mirrors == ("v:v1",)
    again = P.on_merge_in(merged.profile, merged.next_check, "c:c1", message, NOW)  # type: ignore[arg-type]
    assert not again.joined and again.profile.count("viewed", "brand", "sony") == 1  # type: ignore[union-attr]


def test_erasure_drops_everything_and_forgets_cookie_links() -> None:
    customer = P.on_event(None, None, "c:c1", signup("05/11/2025", customer="c1", visitor_id="v1"), NOW)
    erased = P.on_event(customer.profile, None, "c:c1",
                        event("erasure", customer_id="c1", requested_by="dpo"), NOW)
    assert erased.delete and erased.dropped == {"20"} and erased.mirrors == ("v:v1",)
    assert erased.outgoing == [("v1", Forget("v1", "c1"))]


def test_backfill_evaluates_only_the_given_groups() -> None:
    stored = P.on_event(None, None, "v:v1", order("600", at("10/11/2025"), customer=None), NOW)
    big = GroupDefinition.model_validate({"id": "22", "name": "Big", "type": "dynamic",
                                          "rules": [["averagespend", "greater than", 500]]})
    registry = GroupRegistry.from_definitions([*DEFINITIONS, big], POLICY)
    changed, removed = registry.changed_since(REGISTRY.fingerprints)
    assert [g.id for g in changed] == ["22"] and not removed
    result = SubjectProcessor(registry, POLICY).on_backfill(stored.profile, stored.next_check, changed, NOW)  # type: ignore[arg-type]
    assert result.joined == {"22"}


def test_groups_that_no_longer_exist_are_left() -> None:
    stored = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    registry = GroupRegistry.from_definitions([d for d in DEFINITIONS if d.id != "12"], POLICY)
    changed, removed = registry.changed_since(REGISTRY.fingerprints)
    assert removed == {"12"} and not changed
    result = SubjectProcessor(registry, POLICY).on_backfill(stored.profile, stored.next_check, changed, NOW)  # type: ignore[arg-type]
    assert result.left == {"12"}


def test_stored_value_round_trip_and_header() -> None:
    result = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    stored = pack(result.profile, result.next_check)  # type: ignore[arg-type]
    assert peek_next_check(stored) == result.next_check
    profile, day = unpack(stored)
    assert profile == result.profile and day == result.next_check
    assert result.profile.groups and profile.groups == result.profile.groups  # type: ignore[union-attr]


def test_a_change_of_groups_alone_stores_the_same_encoded_body() -> None:
    result = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    stored = pack(result.profile, result.next_check)  # type: ignore[arg-type]
    profile, _ = unpack(stored)
    profile.groups = {"77", "78"}
    again = pack(profile, 739000, body_of(stored))
    assert again == pack(profile, 739000)  # the same bytes as encoding the whole profile anew
    assert body_of(again) == body_of(stored) and unpack(again) == (profile, 739000)


def backfill_both_ways(processor: SubjectProcessor, stored: bytes, changed: list[CompiledGroup],
                       now: datetime) -> tuple[Result, bytes, Result]:
    """(result, new stored value) of the back-fill over ``stored``, and ``on_backfill`` over the
    whole profile it holds, to compare."""
    outcome = processor.backfill_stored(stored, changed, now)
    assert outcome is not None
    profile, next_check = unpack(stored)
    return *outcome, processor.on_backfill(profile, next_check, changed, now)


def test_backfill_over_a_stored_value_equals_backfill_over_the_profile() -> None:
    first = P.on_event(None, None, "v:v1", view(at("19/11/2025")), NOW)
    stored = pack(first.profile, first.next_check)  # type: ignore[arg-type]
    registry = GroupRegistry.from_definitions([d for d in DEFINITIONS if d.id != "12"], POLICY)
    changed, _ = registry.changed_since(REGISTRY.fingerprints)
    processor = SubjectProcessor(registry, POLICY)
    result, value, expected = backfill_both_ways(processor, stored, changed, NOW)
    assert result.left == expected.left == {"12"}
    assert unpack(value) == (expected.profile, expected.next_check)
    assert processor.backfill_stored(value, changed, NOW) is None  # nothing left to change


def test_backfill_over_a_profile_whose_recheck_is_due_keeps_its_behaviour_groups() -> None:
    """A due re-check re-decides every time-dependent group in the back-fill: a partial
    decode (only what the new group reads) used to drop a behaviour window still open."""
    sony_60 = GroupDefinition.model_validate({"id": "31", "name": "Sony 60", "type": "dynamic", "rules": [
        {"field": "brand", "op": "viewed", "value": "Sony", "within": "60 days"}]})
    before = GroupRegistry.from_definitions([*DEFINITIONS, sony_60], POLICY)
    first = SubjectProcessor(before, POLICY).on_event(None, None, "v:v1", view(NOW - timedelta(days=1)), NOW)
    assert first.profile is not None and {"12", "30", "31"} <= first.profile.groups
    stored = pack(first.profile, first.next_check)
    seen = GroupDefinition.model_validate({"id": "900", "name": "Seen", "type": "dynamic",
                                           "rules": [["lastseen", "in the last", "12 months"]]})
    registry = GroupRegistry.from_definitions([*DEFINITIONS, sony_60, seen], POLICY)
    changed, _ = registry.changed_since(before.fingerprints)
    assert [g.id for g in changed] == ["900"] and not changed[0].reads_behaviour
    later = NOW + timedelta(days=5)  # "Recent Sony" (3 days) is over: its re-check is due
    assert first.next_check is not None and first.next_check <= POLICY.day_of(later)
    result, value, expected = backfill_both_ways(SubjectProcessor(registry, POLICY), stored, changed, later)
    assert (result.joined, result.left) == (expected.joined, expected.left) == ({"900"}, {"30"})
    assert unpack(value) == (expected.profile, expected.next_check)
    assert "31" in unpack(value)[0].groups


def test_registry_enforces_group_types() -> None:
    assert REGISTRY.check(event("consent", customer_id="c", group_id="12", granted=True,
                                source="account")) == (
        "group_id", "group 12 ('Sony') is dynamic: only public groups can be used to opt in to",
        "group type not allowed")
    field, why, _ = REGISTRY.check(event(  # type: ignore[misc]
        "staff_membership", customer_id="c", group_id="1", action="add", source="cms", staff_id="s"))
    assert field == "group_id" and "only private groups" in why
    assert REGISTRY.check(signup("05/11/2025", public_groups=["1", "99"])) == (
        "public_groups.1", "no group has the ID or name '99'", "unknown group")
    assert REGISTRY.check(signup("05/11/2025", public_groups=["1"])) is None


def test_a_signup_takes_public_groups_by_id_or_name() -> None:
    name = REGISTRY.groups["1"].definition.name
    for ref in ("1", name, name.upper(), f"  {name.lower()} "):
        assert REGISTRY.check(signup("05/11/2025", public_groups=[ref])) is None, ref
        result = P.on_event(None, None, "c:c1", signup("05/11/2025", public_groups=[ref]), NOW)
        assert result.profile is not None and set(result.profile.consents) == {"1"}, ref
    field, why, reason = REGISTRY.check(signup("05/11/2025", public_groups=["Sony"]))  # type: ignore[misc]
    assert (field, reason) == ("public_groups.0", "unknown group")  # a dynamic group, by name
    assert "no group has the ID or name 'Sony'" in why


def test_a_new_subjects_groups_equal_evaluating_every_group() -> None:
    """The first-event shortcut (touched groups + empty-profile members) is exact."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pipeline.rules import load, memberships

    from .rules.test_properties import RULES, events

    registry = GroupRegistry.from_definitions(RULES.definitions, POLICY)
    processor = SubjectProcessor(registry, POLICY)

    @settings(max_examples=200, deadline=None)
    @given(events(), st.sampled_from(["c:c1", "v:v1"]))
    def check(batch: list, subject: str) -> None:  # type: ignore[type-arg]
        first = batch[0]
        if subject.startswith("v:"):
            if first.type not in ("view", "search", "basket", "wishlist", "order"):
                return  # customer events never reach a cookie's profile
            first = first.model_copy(update={"customer_id": None})  # an anonymous visitor's event
        result = processor.on_event(None, None, subject, first, NOW)
        if result.profile is None:
            return
        everything, _ = memberships(registry.groups.values(), result.profile, today())
        assert result.profile.groups == set(everything)

    check()
    assert load  # the full rules_config, public, private and dynamic groups alike


def test_a_backfill_of_scalar_groups_decodes_no_behaviour_and_agrees_with_a_full_decode() -> None:
    """Groups that read no behaviour are back-filled from a partly decoded profile: same result."""
    # Each of MIXED's scalar groups reads one part (orders, activity, profile), so
    # back-filling them one at a time decodes only that part.
    from hypothesis import given, settings

    from pipeline.profile import decode, encode

    from .rules.test_monotone import MIXED
    from .rules.test_properties import events

    scalar = [g for g in MIXED if not g.reads_behaviour]
    assert scalar and len(scalar) < len(MIXED)
    registry = GroupRegistry.from_definitions([g.definition for g in MIXED], POLICY)
    processor = SubjectProcessor(registry, POLICY)

    @settings(max_examples=80, deadline=None)
    @given(events())
    def check(batch: list) -> None:  # type: ignore[type-arg]
        profile = profile_of(*batch)
        profile.groups = {"500", "508"}
        encoded = encode(profile)
        light = decode(encoded, reads=frozenset({"activity", "orders", "profile", "consent", "staff"}))
        assert light.behaviour == {} and light.seen == {}
        assert (light.last_seen, light.orders, light.date_joined, light.email, light.consents,
                light.staff_groups, light.groups, light.visitor_ids) == (
            profile.last_seen, profile.orders, profile.date_joined, profile.email, profile.consents,
            profile.staff_groups, profile.groups, profile.visitor_ids)
        only_orders = decode(encoded, reads=frozenset({"orders", "time"}))
        assert only_orders.orders == profile.orders and only_orders.last_seen is None
        assert only_orders.email is None and only_orders.consents == {}
        assert decode(encoded, reads=frozenset({"activity"})).last_seen == profile.last_seen
        assert decode(encoded, reads=frozenset({"a-part-nobody-knows"})) == decode(encoded)  # all of it
        stored = pack(profile, None)
        for groups in (scalar, *([g] for g in scalar)):
            outcome = processor.backfill_stored(stored, groups, NOW)
            full, next_check = unpack(stored)
            expected = processor.on_backfill(full, next_check, groups, NOW)
            if outcome is None:
                assert not expected.store
                continue
            result, value = outcome
            assert (result.joined, result.left, result.next_check) == (
                expected.joined, expected.left, expected.next_check)
            assert unpack(value) == (expected.profile, expected.next_check)

    check()
