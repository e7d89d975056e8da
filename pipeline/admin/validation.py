"""Checking what the admin API is sent, with errors a shop admin can act on.

Group definitions go through the same compiler as ``customer-groups rules
check`` (``pipeline.rules.build`` over every definition, so a consent row can
name a public group), and problems come back in the same shape:
``{message, group_id, location}``. A change is refused for the problems it
*introduces*, including in other groups: renaming or deleting a public group
that a dynamic group's consent row names breaks that group, and is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from pipeline.admin.http import ApiError
from pipeline.profile import ProfilePolicy
from pipeline.rules import CompiledGroup, RuleError, build
from pipeline.store.keys import split_subject
from schemas.events import StaffSource
from schemas.groups import GroupDefinition
from schemas.identifiers import Identifier

SOURCE = "admin API"
DRAFT_ID = "_draft"
#: IDs that would collide with a fixed route under /api/groups/.
RESERVED_IDS = frozenset({"dry-run"})
MAX_PAGE = 1000
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


class StaffMembershipRequest(BaseModel):
    """Body of POST /api/groups/{id}/members: who adds whom, from where."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    customer_id: Identifier
    staff_id: Identifier
    source: StaffSource


class StaffRemovalQuery(BaseModel):
    """Query of DELETE /api/groups/{id}/members/{customer_id}."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    staff_id: Identifier
    source: StaffSource


class ErasureRequest(BaseModel):
    """Body of POST /api/customers/{customer_id}/erase: who asked (kept in the event)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    requested_by: Identifier


def _location(loc: Iterable[int | str]) -> str | None:
    # The same rendering as rules_config/ file errors: the union tags add nothing for a human.
    parts = [str(p) for p in loc if p not in ("row", "all", "any", "not")]
    return ".".join(parts) or None


def field_errors(exc: ValidationError, group_id: str | None = None) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{message, group_id, location}`` rows."""
    return [{"message": e["msg"], "group_id": group_id, "location": _location(e["loc"])}
            for e in exc.errors(include_url=False)]


def rule_error_details(errors: Iterable[RuleError]) -> list[dict[str, Any]]:
    return [{"message": e.message, "group_id": e.group_id, "location": e.location} for e in errors]


def parse_model(model: type[BaseModel], data: Mapping[str, Any], what: str) -> Any:
    """``model`` from data, or a 422 listing every bad field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ApiError(422, f"invalid {what}", field_errors(exc)) from None


def parse_definition(data: dict[str, Any], path_id: str | None = None, *, draft: bool = False
                     ) -> GroupDefinition:
    """A definition from a request body; ``path_id`` (PUT) fills or must equal the body's id."""
    data = dict(data)
    if path_id is not None:
        body_id = data.setdefault("id", path_id)
        if str(body_id) != path_id:
            raise ApiError(422, "invalid group definition", [{
                "message": f"the body's id {body_id!r} differs from the URL's {path_id!r}",
                "group_id": path_id, "location": "id"}])
    if draft:
        data.setdefault("id", DRAFT_ID)
        data.setdefault("name", "draft")
        data.setdefault("type", "dynamic")
    gid = str(data["id"]) if "id" in data else None
    try:
        definition = GroupDefinition.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid group definition", field_errors(exc, gid)) from None
    if definition.id in RESERVED_IDS and not draft:
        raise ApiError(422, "invalid group definition", [{
            "message": f"{definition.id!r} is reserved by the API; choose another id",
            "group_id": definition.id, "location": "id"}])
    if draft and definition.type != "dynamic":
        raise ApiError(422, "invalid group definition", [{
            "message": f"a dry run evaluates rules, and only dynamic groups have them "
                       f"(this one is {definition.type})", "group_id": definition.id, "location": "type"}])
    return definition


def _compile(definitions: Mapping[str, GroupDefinition], policy: ProfilePolicy
             ) -> tuple[dict[str, CompiledGroup], list[RuleError]]:
    ruleset = build(((d, SOURCE) for d in definitions.values()), policy)
    return ruleset.groups, ruleset.errors


def _key(error: RuleError) -> tuple[str | None, str | None, str]:
    return error.group_id, error.location, error.message


def introduced_problems(before: Mapping[str, GroupDefinition], after: Mapping[str, GroupDefinition],
                        policy: ProfilePolicy) -> list[RuleError]:
    """Problems the definitions ``after`` a change have that those ``before`` did not."""
    _, old = _compile(before, policy)
    _, new = _compile(after, policy)
    known = {_key(e) for e in old}
    return [e for e in new if _key(e) not in known]


def compile_draft(current: Mapping[str, GroupDefinition], draft: GroupDefinition,
                  policy: ProfilePolicy) -> CompiledGroup:
    """The draft compiled beside the live groups (it replaces one with its id), or a 422."""
    groups, errors = _compile({**current, draft.id: draft}, policy)
    mine = [e for e in errors if e.group_id == draft.id]
    if mine or draft.id not in groups:
        raise ApiError(422, "invalid rules", rule_error_details(mine))
    return groups[draft.id]


def parse_page(query: Mapping[str, str], default_count: int = 50) -> tuple[int, int]:
    """(cursor, count) of an SSCAN page; 400 when they are not small non-negative integers."""
    try:
        cursor = int(query.get("cursor", "0"))
        count = int(query.get("count", str(default_count)))
    except ValueError:
        raise ApiError(400, "cursor and count must be integers") from None
    if cursor < 0 or not 1 <= count <= MAX_PAGE:
        raise ApiError(400, f"cursor must be >= 0 and count between 1 and {MAX_PAGE}")
    return cursor, count


def parse_identifier(value: str, name: str) -> str:
    """A customer or staff ID from the URL, checked like the event contract checks it."""
    try:
        return _IDENTIFIER.validate_python(value)
    except ValidationError as exc:
        raise ApiError(422, f"invalid {name}", [{"message": e["msg"], "group_id": None, "location": name}
                                                 for e in exc.errors(include_url=False)]) from None


def parse_subject(subject: str) -> str:
    """``c:<customer_id>`` or ``v:<visitor_id>``, else a 400; an ID outside the ID policy is a 422."""
    try:
        anonymous, raw = split_subject(subject)
    except ValueError:
        raise ApiError(400, f"not a subject: {subject!r}",
                       "a subject is c:<customer_id> or v:<visitor_id>") from None
    parse_identifier(raw, "visitor_id" if anonymous else "customer_id")
    return subject
