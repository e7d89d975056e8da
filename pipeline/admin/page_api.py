"""The three API calls the Customer Groups page needs beyond the CLI's: check, vocabulary, records.

* ``POST /api/rules/check``: a draft definition through the same compiler as
  ``customer-groups rules check`` (beside the live groups, so a consent row can
  name a public group), without counting anyone. The editor calls it as the
  admin types; a dry run, which scans every profile, is kept for the preview
  button.
* ``GET /api/rules/vocabulary``: the fields, operators and actions the
  compiler knows, so the editor's drop-downs can never offer what it refuses.
* ``GET /api/groups/{group_id}/records``: a page of a group's customers with
  their details and, for public and private groups, the record that makes
  contacting them lawful (when, how and by whom they opted in or were added),
  the same rows as the nightly export (:mod:`pipeline.export.rows`).
"""

from __future__ import annotations

from typing import Any

from faust.web import Request

from pipeline.admin.http import json_response, read_json_object
from pipeline.admin.service import AdminService, definition_json
from pipeline.admin.validation import DRAFT_ID, compile_draft, parse_definition, parse_page
from pipeline.admin.views import AdminView
from pipeline.export.rows import spec_for
from pipeline.rules.fields import (
    ACTION_OPS,
    ACTIONS,
    BEHAVIOUR_FIELDS,
    FIELDS,
    KIND_OPS,
    OPERATORS,
    SCALAR_FIELDS,
    op_label,
    operator_names,
)

#: What the search-text field takes instead of an action (pipeline.rules.compiler.behaviour).
SEARCH_OPERATORS = ("contains", "equals")


def check(service: AdminService, data: dict[str, Any]) -> dict[str, Any]:
    """The draft compiled beside the live groups: 200 with its normalised form, or the 422 of a save."""
    draft = parse_definition({"id": DRAFT_ID, "name": "draft", "type": "dynamic", **data})
    live = {gid: g.definition for gid, g in service.worker.registry.groups.items()}
    group = compile_draft(live, draft, service.worker.policy)
    return {"ok": True, "definition": definition_json(draft), "time_dependent": group.time_dependent}


def vocabulary() -> dict[str, Any]:
    """Every field with the operators that fit it, and the aliases the compiler also accepts."""
    fields: list[dict[str, Any]] = [
        {"name": f.name, "kind": f.kind, "help": f.help, "operators": operator_names(KIND_OPS[f.kind])}
        for f in SCALAR_FIELDS]
    for b in BEHAVIOUR_FIELDS:
        operators = list(SEARCH_OPERATORS) if b.dimension == "query" else [*ACTIONS, "any"]
        fields.append({"name": b.name, "kind": "behaviour", "help": b.help, "operators": operators})
    actions = {alias: (found[0] if len(found) == 1 else "any") for alias, found in ACTION_OPS.items()}
    return {"fields": fields,
            "aliases": {"fields": {alias: f.name for alias, f in FIELDS.items()},
                        "operators": {alias: op_label(op) for alias, op in OPERATORS.items()},
                        "actions": actions}}


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


async def member_records(service: AdminService, group_id: str, cursor: int, count: int) -> dict[str, Any]:
    """One SSCAN page of customers with their export row; a record that no longer says "in" is left out."""
    group = service.group(group_id)
    spec = spec_for(group_id, group.type)
    redis, keys = service.worker.redis, service.worker.keys
    next_cursor, raw = await redis.sscan(keys.members(group_id, anonymous=False), cursor=cursor, count=count)
    customers = sorted({_text(m) or "" for m in raw})
    replies: list[Any] = []
    if customers:
        async with redis.pipeline(transaction=False) as pipe:
            for customer in customers:
                pipe.hmget(keys.details(f"c:{customer}"), list(spec.fields))
            replies = await pipe.execute()
    records = []
    for customer, values in zip(customers, replies, strict=True):
        row = spec.row(customer, [_text(v) for v in values])
        if row is not None:
            records.append(dict(zip(spec.columns, row, strict=True)))
    return {"group_id": group_id, "type": group.type, "columns": list(spec.columns),
            "records": records, "next_cursor": int(next_cursor)}


class RulesCheckView(AdminView):
    async def post(self, request: Request) -> Any:
        """Check a draft definition with the rules compiler; nothing is counted or published."""
        body = await read_json_object(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(check(self.service, body))


class VocabularyView(AdminView):
    async def get(self, request: Request) -> Any:
        """The rule editor's fields, operators and actions."""
        return json_response(vocabulary())


class MemberRecordsView(AdminView):
    async def get(self, request: Request, group_id: str) -> Any:
        """A page of the group's customers with details and opt-in or staff records."""
        cursor, count = parse_page(request.query)
        return json_response(await member_records(self.service, group_id, cursor, count))


#: The page's routes, registered after :data:`pipeline.admin.views.ROUTES`.
PAGE_API_ROUTES: tuple[tuple[str, type[AdminView]], ...] = (
    ("/api/rules/check", RulesCheckView),
    ("/api/rules/vocabulary", VocabularyView),
    ("/api/groups/{group_id}/records", MemberRecordsView),
)
