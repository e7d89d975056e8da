"""Checking admin API input the way `rules check` does (pipeline.admin.validation)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.admin.http import ApiError
from pipeline.admin.validation import (
    DRAFT_ID,
    StaffMembershipRequest,
    compile_draft,
    introduced_problems,
    parse_definition,
    parse_identifier,
    parse_model,
    parse_page,
    parse_subject,
)
from pipeline.profile import ProfilePolicy, fold, new_profile
from pipeline.rules import matches
from schemas.events import EVENT_ADAPTER
from schemas.groups import GroupDefinition

POLICY = ProfilePolicy()
NEWSLETTER = GroupDefinition(id="1", name="Newsletter", type="public")
READERS = GroupDefinition.model_validate(
    {"id": "20", "name": "Readers", "type": "dynamic", "rules": [["consent", "contains", "Newsletter"]]})


def _raises(status: int, call: object, *args: object, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.status == status, caught.value.details
    return caught.value


def test_a_definition_takes_its_id_from_the_url_when_the_body_has_none() -> None:
    definition = parse_definition({"name": "Post", "type": "private"}, path_id="7")
    assert (definition.id, definition.type) == ("7", "private")
    assert parse_definition({"id": 7, "name": "Post", "type": "private"}, path_id="7").id == "7"


def test_a_body_id_that_differs_from_the_url_is_refused() -> None:
    error = _raises(422, parse_definition, {"id": "8", "name": "Post", "type": "private"}, path_id="7")
    assert error.details == [{"message": "the body's id '8' differs from the URL's '7'", "group_id": "7",
                              "location": "id"}]


def test_shape_errors_are_listed_with_group_and_location() -> None:
    error = _raises(422, parse_definition, {"id": "9", "name": "", "type": "secret"})
    assert {d["location"] for d in error.details} == {"name", "type"}
    assert all(d["group_id"] == "9" for d in error.details)


def test_an_id_that_is_a_route_is_reserved() -> None:
    assert _raises(422, parse_definition, {"id": "dry-run", "name": "x", "type": "private"}).details[0][
        "location"] == "id"


def test_a_draft_needs_only_rules_and_must_be_dynamic() -> None:
    draft = parse_definition({"rules": [["orders", "equals", 0]]}, draft=True)
    assert (draft.id, draft.type) == (DRAFT_ID, "dynamic")
    assert _raises(422, parse_definition, {"type": "public"}, draft=True).details[0]["location"] == "type"


def test_a_draft_compiles_beside_live_groups_so_consent_names_resolve() -> None:
    draft = parse_definition({"rules": [["consent", "contains", "Newsletter"]]}, draft=True)
    group = compile_draft({"1": NEWSLETTER}, draft, POLICY)
    profile = new_profile("c:c1")
    fold(profile, EVENT_ADAPTER.validate_python({
        "type": "consent", "event_id": "e1", "occurred_at": "2025-11-20T10:00:00+00:00", "customer_id": "c1",
        "group_id": "1", "granted": True, "source": "account"}), POLICY)
    assert matches(group, profile, POLICY.day_of(datetime(2025, 11, 20, 12, tzinfo=UTC)))
    # without the public group, the same draft does not compile
    error = _raises(422, compile_draft, {}, draft, POLICY)
    assert error.details[0]["group_id"] == DRAFT_ID and error.details[0]["location"] == "rule 1"


def test_rule_errors_name_the_rule_like_rules_check() -> None:
    draft = parse_definition({"rules": [["orders", "equals", 0], ["brnd", "viewed", "Sony"]]}, draft=True)
    error = _raises(422, compile_draft, {}, draft, POLICY)
    assert error.details[0]["location"] == "rule 2"
    assert "did you mean 'brand'" in error.details[0]["message"]


def test_renaming_a_public_group_that_a_rule_names_is_a_new_problem() -> None:
    before = {"1": NEWSLETTER, "20": READERS}
    renamed = {**before, "1": GroupDefinition(id="1", name="Email", type="public")}
    problems = introduced_problems(before, renamed, POLICY)
    assert [p.group_id for p in problems] == ["20"]
    assert introduced_problems(before, {"20": READERS}, POLICY)  # deleting it too


def test_problems_that_were_already_there_do_not_block_other_changes() -> None:
    broken = GroupDefinition.model_validate(
        {"id": "30", "name": "Broken", "type": "dynamic", "rules": [["brnd", "viewed", "Sony"]]})
    before = {"1": NEWSLETTER, "30": broken}
    after = {**before, "7": GroupDefinition(id="7", name="Post", type="private")}
    assert introduced_problems(before, after, POLICY) == []


@pytest.mark.parametrize(("query", "page"), [({}, (0, 50)), ({"cursor": "17", "count": "1000"}, (17, 1000))])
def test_page_parameters(query: dict[str, str], page: tuple[int, int]) -> None:
    assert parse_page(query) == page


@pytest.mark.parametrize("query", [{"cursor": "x"}, {"cursor": "-1"}, {"count": "0"}, {"count": "1001"}])
def test_bad_page_parameters_are_400(query: dict[str, str]) -> None:
    _raises(400, parse_page, query)


def test_subjects_and_identifiers() -> None:
    assert parse_subject("c:42") == "c:42" and parse_subject("v:ck_1") == "v:ck_1"
    for bad in ("42", "x:42", "c:"):
        _raises(400, parse_subject, bad)
    for bad, field in (("c:C{1}", "customer_id"), ("v:ck\x1f", "visitor_id"), ("c:a\x00b", "customer_id")):
        assert _raises(422, parse_subject, bad).details[0]["location"] == field  # the ID policy, as in events
    assert parse_identifier("C00042", "customer_id") == "C00042"
    assert _raises(422, parse_identifier, "a b", "customer_id").details[0]["location"] == "customer_id"


def test_staff_request_lists_every_bad_field() -> None:
    body = parse_model(StaffMembershipRequest, {"customer_id": "c1", "staff_id": "s1", "source": "pos"}, "request")
    assert body.source == "pos"
    error = _raises(422, parse_model, StaffMembershipRequest, {"customer_id": "c1", "source": "web", "x": 1},
                    "request")
    assert {d["location"] for d in error.details} == {"staff_id", "source", "x"}
