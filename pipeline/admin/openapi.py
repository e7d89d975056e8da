"""The admin API's OpenAPI 3.1 description, served at ``GET /api/openapi.json``.

Written out by hand per operation (summary, parameters, bodies, responses) so
it says what the CMS developer needs; request bodies come from the same
pydantic models that validate them, so those cannot drift. A unit test checks
that every route the worker registers under ``/api/`` is described here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from pipeline.admin.auth import is_public
from pipeline.admin.validation import ErasureRequest, StaffMembershipRequest
from schemas.groups import GroupDefinition

REF = "#/components/schemas/{model}"
_LIST_ROW: dict[str, Any] = {  # the compact row form the definitions also accept
    "type": "array", "minItems": 2, "maxItems": 4,
    "description": "[connector, field, operator, value] or [field, operator, value]",
    "items": {"type": ["string", "number", "boolean", "null", "array"]},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


GROUP_ID = _path("group_id", "The group's ID, e.g. `12`.")
CUSTOMER_ID = _path("customer_id", "The customer's ID.")
SOURCE = {"type": "string", "enum": ["cms", "pos"]}
ACCEPTED = _json(_ref("Accepted"), "Accepted: the event is on the events topic; the pipeline applies it shortly.")


def _operations() -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) → OpenAPI operation."""
    unknown = {"404": _error("No such group.")}
    invalid = {"422": _error("Invalid definition: every problem with its group and location.")}
    return {
        ("get", "/api/groups"): {
            "operationId": "listGroups", "summary": "The Customer Groups table",
            "responses": {"200": _json({"type": "object", "properties": {
                "groups": {"type": "array", "items": _ref("GroupSummary")}}}, "Every group with its counts.")}},
        ("post", "/api/groups"): {
            "operationId": "createGroup", "summary": "Create a group",
            "description": "Checked like `customer-groups rules check`, then published to the definitions "
                           "topic; answers once this worker applies it. Dynamic groups back-fill over "
                           "existing profiles.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("GroupDefinition")}}},
            "responses": {"201": _json(_ref("GroupDefinition"), "Created."),
                          "409": _error("A group with this ID exists."), **invalid}},
        ("post", "/api/groups/dry-run"): {
            "operationId": "dryRunGroup", "summary": "Count a draft dynamic group over live profiles",
            "description": "Evaluates the draft's rules over the profiles every worker stores (`id`, `name` "
                           "and `type` may be left out): the worker asked counts its partitions and asks "
                           "the others for theirs. Nothing is published.",
            "parameters": [_query("scope", "`all` (default): every worker; `local`: this worker's "
                                  "partitions only (what workers ask each other).",
                                  {"type": "string", "enum": ["all", "local"]})],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("GroupDefinition")}}},
            "responses": {"200": _json(_ref("DryRun"), "Who the draft would take in."), **invalid,
                          "503": _error("The worker is starting or rebalancing.")}},
        ("get", "/api/groups/{group_id}"): {
            "operationId": "getGroup", "summary": "A group: definition, counts and a page of customers",
            "parameters": [GROUP_ID,
                           _query("cursor", "SSCAN cursor: 0 to start, then `next_cursor`.",
                                  {"type": "integer", "minimum": 0, "default": 0}),
                           _query("count", "SSCAN count hint (members per page, roughly).",
                                  {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50})],
            "responses": {"200": _json(_ref("GroupDetail"), "The group."),
                          "400": _error("Bad cursor or count."), **unknown}},
        ("put", "/api/groups/{group_id}"): {
            "operationId": "updateGroup", "summary": "Replace a group's definition",
            "parameters": [GROUP_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("GroupDefinition")}}},
            "responses": {"200": _json(_ref("GroupDefinition"), "Updated."), **unknown, **invalid}},
        ("delete", "/api/groups/{group_id}"): {
            "operationId": "deleteGroup", "summary": "Delete a group", "parameters": [GROUP_ID],
            "responses": {"204": {"description": "Deleted; workers remove it from Redis."}, **unknown,
                          "422": _error("Another group's rules name this (public) group.")}},
        ("get", "/api/groups/{group_id}/members.csv"): {
            "operationId": "downloadMembers", "summary": "Every customer of the group as CSV",
            "description": "Columns customer_id,email,first_name,last_name,date_joined (RFC 4180). A cell "
                           "starting with = + - @, tab or CR is prefixed with ' against formula injection.",
            "parameters": [GROUP_ID],
            "responses": {"200": {"description": "The CSV file.",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}}, **unknown}},
        ("post", "/api/groups/{group_id}/members"): {
            "operationId": "addMember", "summary": "Add a customer to a private group",
            "parameters": [GROUP_ID],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("StaffMembershipRequest")}}},
            "responses": {"202": ACCEPTED, **unknown, "409": _error("The group is public or dynamic."),
                          "422": _error("Invalid body.")}},
        ("delete", "/api/groups/{group_id}/members/{customer_id}"): {
            "operationId": "removeMember", "summary": "Remove a customer from a private group",
            "parameters": [GROUP_ID, CUSTOMER_ID,
                           _query("staff_id", "Who removes them.", {"type": "string"}, True),
                           _query("source", "Where: the CMS or the till.", SOURCE, True)],
            "responses": {"202": ACCEPTED, **unknown, "409": _error("The group is public or dynamic."),
                          "422": _error("Missing or invalid staff_id/source.")}},
        ("get", "/api/subjects/{subject}/explain"): {
            "operationId": "explainSubject", "summary": "Why a customer or visitor is (not) in groups",
            "description": "Evaluates the live profile; routed to the worker that owns the subject.",
            "parameters": [_path("subject", "`c:<customer_id>` or `v:<visitor_id>`."),
                           _query("group", "One group's ID; all groups when left out.", {"type": "string"})],
            "responses": {"200": _json(_ref("Explanation"), "One outcome per group."),
                          "400": _error("Not a subject."), "404": _error("No such profile or group."),
                          "503": _error("The worker is starting or rebalancing.")}},
        ("get", "/api/public-groups"): {
            "operationId": "publicGroups", "summary": "Public groups for the registration form (no token)",
            "security": [],
            "responses": {"200": _json({"type": "object", "properties": {"groups": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                                 "description": {"type": ["string", "null"]}}}}}},
                "Public groups only; private and dynamic groups never appear.")}},
        ("post", "/api/customers/{customer_id}/erase"): {
            "operationId": "eraseCustomer", "summary": "GDPR erasure of a customer",
            "description": "Produces an erasure event: the pipeline removes the profile, memberships, "
                           "details and consent record.",
            "parameters": [CUSTOMER_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ErasureRequest")}}},
            "responses": {"202": ACCEPTED, "422": _error("Invalid body or customer ID.")}},
        ("post", "/api/rules/check"): {
            "operationId": "checkRules", "summary": "Check a draft definition with the rules compiler",
            "description": "The same compiler as `customer-groups rules check`, beside the live groups; "
                           "nothing is counted or published (`id`, `name` and `type` may be left out). The "
                           "page's editor calls it as the admin types.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("GroupDefinition")}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "ok": {"type": "boolean"}, "definition": _ref("GroupDefinition"),
                "time_dependent": {"type": "boolean"}}}, "It compiles."), **invalid}},
        ("get", "/api/rules/vocabulary"): {
            "operationId": "ruleVocabulary", "summary": "The rule editor's fields, operators and aliases",
            "responses": {"200": _json(_ref("Vocabulary"), "What the compiler accepts.")}},
        ("get", "/api/groups/{group_id}/records"): {
            "operationId": "memberRecords", "summary": "A page of customers with details and opt-in records",
            "description": "The nightly export's rows: details, and for public groups when, how and by whom "
                           "the customer opted in (`opted_in_at`, `opt_in_source`, `recorded_by`), for private "
                           "groups `added_at`, `added_source`, `added_by`.",
            "parameters": [GROUP_ID,
                           _query("cursor", "SSCAN cursor: 0 to start, then `next_cursor`.",
                                  {"type": "integer", "minimum": 0, "default": 0}),
                           _query("count", "SSCAN count hint.", {"type": "integer", "minimum": 1,
                                                                  "maximum": 1000, "default": 50})],
            "responses": {"200": _json(_ref("MemberRecords"), "One page."),
                          "400": _error("Bad cursor or count."), **unknown}},
        ("get", "/api/openapi.json"): {
            "operationId": "openapi", "summary": "This description (no token)", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}},
    }


def _schemas() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(GroupDefinition, "validation"), (StaffMembershipRequest, "validation"),
         (ErasureRequest, "validation")], by_alias=True, ref_template=REF)
    schemas: dict[str, Any] = defs["$defs"]
    schemas["RuleRow"] = {"anyOf": [schemas["RuleRow"], _LIST_ROW]}
    counts = {"members": {"type": "integer", "description": "Customers (SCARD of the customer set)."},
              "anonymous_guests": {"type": "integer", "description": "Cookie visitors (SCARD)."}}
    summary = {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "type": {"type": "string", "enum": ["public", "private", "dynamic"]},
        **counts, "description": {"type": ["string", "null"]}}}
    schemas.update({
        "Error": {"type": "object", "required": ["error", "details"], "properties": {
            "error": {"type": "string"},
            "details": {"description": "More: e.g. a list of {message, group_id, location}."}}},
        "GroupSummary": summary,
        "GroupDetail": {"allOf": [summary, {"type": "object", "properties": {
            "definition": _ref("GroupDefinition"),
            "members_page": {"type": "array", "items": {"type": "object", "properties": {
                "customer_id": {"type": "string"}, "email": {"type": ["string", "null"]}}}},
            "next_cursor": {"type": "integer", "description": "0 when the scan is complete."}}}]},
        "DryRun": {"type": "object", "properties": {
            "customers": {"type": "integer"}, "anonymous_guests": {"type": "integer"},
            "profiles_scanned": {"type": "integer"},
            "partitions_answered": {"type": "integer", "description": "Profile partitions counted."},
            "partitions_total": {"type": "integer"},
            "complete": {"type": "boolean", "description": "Every partition answered: the count is the whole."},
            "partitions": {"type": "array", "items": {"type": "integer"},
                           "description": "With scope=local: this worker's partitions."},
            "workers": {"type": "array", "items": {"type": "object", "properties": {
                "url": {"type": "string"}, "partitions": {"type": "array", "items": {"type": "integer"}},
                "answered": {"type": "boolean"}, "error": {"type": "string"}}}}}},
        "Accepted": {"type": "object", "properties": {
            "accepted": {"type": "boolean"}, "event_id": {"type": "string"},
            "event": {"type": "object", "description": "The event produced."}}},
        "Vocabulary": {"type": "object", "properties": {
            "fields": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"type": "string"}, "help": {"type": "string"},
                "operators": {"type": "array", "items": {"type": "string"}}}}},
            "aliases": {"type": "object", "description": "fields/operators/actions: squashed alias -> name"}}},
        "MemberRecords": {"type": "object", "properties": {
            "group_id": {"type": "string"}, "type": {"type": "string"},
            "columns": {"type": "array", "items": {"type": "string"}},
            "records": {"type": "array", "items": {"type": "object", "additionalProperties": {
                "type": ["string", "null"]}}},
            "next_cursor": {"type": "integer", "description": "0 when the scan is complete."}}},
        "ExplanationNode": {"type": "object", "properties": {
            "text": {"type": "string"}, "holds": {"type": "boolean"},
            "children": {"type": "array", "items": _ref("ExplanationNode")}}},
        "Explanation": {"type": "object", "properties": {
            "subject": {"type": "string"}, "evaluated_at": {"type": "string", "format": "date-time"},
            "groups": {"type": "array", "items": {"type": "object", "properties": {
                "group_id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"},
                "matched": {"type": "boolean"},
                "next_change": {"type": ["string", "null"], "format": "date-time"},
                "explanation": _ref("ExplanationNode")}}}}},
    })
    return schemas


@lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in _operations().items():
        responses = operation["responses"]
        if not is_public(method, path):
            responses.setdefault("401", _error("Missing or wrong bearer token."))
        responses.setdefault("500", _error("Unexpected failure (logged by the worker)."))
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "customer-groups admin API", "version": "1",
                 "description": "Served by every worker at CG_WEB_HOST:CG_WEB_PORT. Errors are "
                                "{\"error\", \"details\"}. Send `Authorization: Bearer <CG_ADMIN_TOKEN>`."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }
