"""Only the groups an event can affect are re-evaluated."""

from __future__ import annotations

from pipeline.rules import RuleIndex, event_keys
from pipeline.rules.index import phrases

from .conftest import event, group, order, signup, view

SONY = group({"field": "brand", "op": "viewed", "value": "Sony"}, gid="sony")
SONY_SEARCH = group({"field": "brand", "op": "searched", "value": "Sony"}, gid="sony-search")
BRANDS = [group({"field": "brand", "op": "any", "value": f"brand {i}"}, gid=f"b{i}") for i in range(500)]
NEW = group(["datejoined", "greater than", "01/11/2025"], ["orders", "equals", 0], gid="new")
ANY_VIEW = group({"field": "product", "op": "viewed", "value": "*"}, gid="any-view")
NEWSLETTER = group(gid="1", kind="public")
POST = group(gid="7", kind="private")
INDEX = RuleIndex([SONY, SONY_SEARCH, NEW, ANY_VIEW, NEWSLETTER, POST, *BRANDS])


def _ids(e) -> set[str]:  # type: ignore[no-untyped-def]
    return {g.id for g in INDEX.for_event(e)}


def test_a_view_reaches_its_brand_and_wildcards_only() -> None:
    assert _ids(view(brand="Sony")) == {"sony", "any-view"}
    assert _ids(view(brand="Brand 7")) == {"b7", "any-view"}


def test_a_free_text_search_reaches_brands_named_in_it() -> None:
    assert _ids(event("search", query="sony headphones")) == {"sony-search"}
    assert _ids(event("search", query="cheap brand 42 sofa")) == {"b42"}


def test_orders_and_signups_reach_aggregate_and_profile_groups() -> None:
    assert "new" in _ids(order("10")) and "new" in _ids(signup("05/11/2025"))
    assert "1" in _ids(signup("05/11/2025"))


def test_consent_and_staff_events_reach_public_and_private_groups() -> None:
    consent = event("consent", customer_id="c", group_id="1", granted=True, source="account")
    staff = event("staff_membership", customer_id="c", group_id="7", action="add", source="pos",
                  staff_id="s")
    assert _ids(consent) == {"1"} and _ids(staff) == {"7"}


def test_identify_and_erasure_reach_everything() -> None:
    assert len(_ids(event("identify", customer_id="c", visitor_id="v"))) == len(INDEX.groups)


def test_basket_removal_reaches_nothing_but_activity() -> None:
    removal = event("basket", action="remove", product={"product_id": "p", "brand": "Sony"})
    assert event_keys(removal) == frozenset({"activity"}) and not _ids(removal)


def test_phrases_are_bounded_runs_of_words() -> None:
    assert phrases("a b c") == {"a", "b", "c", "a b", "b c", "a b c"}
    assert max(len(p.split()) for p in phrases(" ".join("w" * 9))) == 5


def test_time_dependent_groups_are_listed() -> None:
    window = group({"field": "brand", "op": "viewed", "value": "x", "within": "3 days"}, gid="w")
    assert RuleIndex([window, SONY]).time_dependent == {"w"}
