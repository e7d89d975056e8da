"""Issue 5, admin part: the admin HTTP API served by a real worker, against real Kafka and Redis."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from pipeline.assembly import build_worker
from pipeline.settings import Settings
from pipeline.stream.worker import Worker

from .harness import Clock, View, ago, apply, eventually, prepare, produce, start_worker, stop_worker

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_ids = itertools.count()

DEFINITIONS: list[dict[str, Any]] = [
    {"id": "1", "name": "Newsletter", "type": "public", "description": "The weekly email."},
    {"id": "7", "name": "Post", "type": "private"},
    {"id": "12", "name": "Sony interest", "type": "dynamic",
     "rules": [{"connector": "or", "field": "brand", "operator": "viewed", "value": "Sony"},
               {"connector": "or", "field": "brand", "operator": "searched", "value": "Sony"}]},
    {"id": "20", "name": "Newsletter readers", "type": "dynamic", "rules": [["consent", "contains", "Newsletter"]]},
]


def ev(kind: str, clock: Clock, days_ago: float = 1, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"admin-it-{next(_ids)}", "occurred_at": ago(clock, days=days_ago), **fields}


def view_event(clock: Clock, brand: str, **who: str) -> dict[str, Any]:
    return ev("view", clock, product={"product_id": f"p-{brand}", "brand": brand}, **who)


def signup(clock: Clock, customer: str, **fields: Any) -> dict[str, Any]:
    return ev("signup", clock, customer_id=customer, email=f"{customer}@example.com", date_joined="2025-11-05",
              **fields)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Api:
    """The running worker and a client for its web server."""

    worker: Worker
    http: aiohttp.ClientSession
    base: str
    settings: Settings
    clock: Clock

    async def call(self, method: str, path: str, *, token: bool = True, **kwargs: Any) -> tuple[int, Any]:
        headers = {**(AUTH if token else {}), **kwargs.pop("headers", {})}
        async with self.http.request(method, self.base + path, headers=headers, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


@asynccontextmanager
async def running_api(settings: Settings, definitions: list[dict[str, Any]]) -> AsyncIterator[Api]:
    """A worker WITH its web server on a free port (the harness runs workers without one)."""
    port = free_port()
    settings = settings.model_copy(update={"web_host": "127.0.0.1", "web_port": port, "admin_token": TOKEN})
    await prepare(settings)
    await apply(settings, definitions)
    clock = Clock()
    worker = build_worker(settings, web_enabled=True, clock=clock)
    try:
        await start_worker(worker)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            api = Api(worker, http, f"http://127.0.0.1:{port}", settings, clock)

            async def serving() -> bool:
                # partitions assigned (table_route needs them) and the server answering
                app = worker.app
                if app.rebalancing or not app.assignor.assigned_actives():
                    return False
                try:
                    return (await api.call("GET", "/api/openapi.json", token=False))[0] == 200
                except aiohttp.ClientError:
                    return False

            assert await eventually(serving, bool) is True
            yield api
    finally:
        await stop_worker(worker)
    service = worker.app.web.views["/api/groups"].service  # type: ignore[attr-defined]
    assert service.producer._producer is None  # noqa: SLF001 - the API's producer stops with the app


@pytest.fixture
async def api(settings: Settings, redis: Redis) -> AsyncIterator[Api]:
    async with running_api(settings, DEFINITIONS) as running:
        yield running


async def test_tokens_and_the_error_shape(api: Api) -> None:
    status, body = await api.call("GET", "/api/groups", token=False)
    assert status == 401 and body["error"] == "unauthorized" and "Bearer" in body["details"]
    status, body = await api.call("GET", "/api/groups", token=False, headers={"Authorization": "Bearer nope"})
    assert (status, body["details"]) == (401, "invalid bearer token")
    status, body = await api.call("POST", "/api/customers/c1/erase", token=False, json={"requested_by": "x"})
    assert status == 401  # commands too

    # the storefront's form and the description need no token
    status, body = await api.call("GET", "/api/public-groups", token=False)
    assert status == 200 and body == {"groups": [{"id": "1", "name": "Newsletter",
                                                  "description": "The weekly email."}]}
    status, spec = await api.call("GET", "/api/openapi.json", token=False)
    assert status == 200 and spec["openapi"].startswith("3.1") and "/api/groups/{group_id}" in spec["paths"]

    # every failure is {"error", "details"} JSON: router 404/405 too, and bad bodies
    status, body = await api.call("GET", "/api/nothing-here")
    assert status == 404 and set(body) == {"error", "details"}
    status, body = await api.call("PATCH", "/api/groups")
    assert status == 405 and "POST" in body["details"]["allowed_methods"]
    status, body = await api.call("POST", "/api/groups", data=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"] == "the request body is not valid JSON"
    status, body = await api.call("POST", "/api/groups", json=[1, 2])
    assert status == 400 and "JSON object" in body["error"]
    status, body = await api.call("GET", "/api/groups/12?cursor=x")
    assert status == 400 and set(body) == {"error", "details"}


#: What a worker serves without a token (README, "Security"); everything else needs one.
DOCUMENTED_PUBLIC = {("GET", "/api/public-groups"), ("GET", "/api/openapi.json"), ("GET", "/healthz"),
                     ("GET", "/metrics"),
                     # the page's shell: HTML, its script modules and style, no data (README, "Security")
                     *(("GET", path) for path in ("/admin", "/admin/", "/admin/style.css", "/admin/api.js",
                                                  "/admin/app.js", "/admin/dom.js", "/admin/groups.js",
                                                  "/admin/editor.js", "/admin/rows.js", "/admin/subject.js"))}


def _concrete(template: str) -> str:
    """A path for a route template, each {parameter} filled with a plausible value."""
    return re.sub(r"\{[^}]+\}", "c:C1", template)


async def test_every_route_the_worker_serves_is_denied_without_the_token(api: Api, redis: Redis) -> None:
    await produce(api.settings, [signup(api.clock, "C1", first_name="Ann")])
    details = View(redis, api.settings).keys.details("c:C1")
    assert await eventually(lambda: redis.hget(details, "first_name"), lambda n: n == "Ann") == "Ann"
    web_app = api.worker.app.web.web_app  # type: ignore[attr-defined]  # aiohttp app behind faust.web
    routes: set[tuple[str, str]] = set()
    for route in web_app.router.routes():
        template = route.resource.canonical if route.resource is not None else None
        if template is None:
            continue
        methods = ["GET", "POST", "PUT", "DELETE"] if route.method == "*" else [route.method]
        routes |= {(m, template) for m in methods if m != "HEAD"}
    assert {t for _, t in routes} >= {"/api/groups", "/metrics", "/healthz"}  # the walk saw the server
    assert not any(t.startswith(("/table", "/router", "/graph", "/performance")) for _, t in routes), routes

    for method, template in sorted(routes):
        status, _ = await api.call(method, _concrete(template), token=False)
        if (method, template) in DOCUMENTED_PUBLIC:
            assert status != 401, (method, template)
        else:
            assert status == 401, (method, template, status)

    # Faust's table views: gone, and denied before anyone learns that
    for path in ("/table/profiles/c:C1/", "/table/identity/ck-1/", "/table/", "/router/", "/stats/",
                 "/graph/", "/assignment/", "/"):
        status, body = await api.call("GET", path, token=False)
        assert status == 401 and "Ann" not in str(body), path
        status, body = await api.call("GET", path)
        if path != "/":  # Faust's plain production index stays, behind the token
            assert status == 404 and "Ann" not in str(body), path  # with the token: not served at all
    assert (await api.call("GET", "/healthz", token=False))[0] == 200
    assert (await api.call("GET", "/metrics", token=False))[0] == 200


async def test_metrics_behind_the_token_when_not_public(settings: Settings, redis: Redis) -> None:
    async with running_api(settings.model_copy(update={"metrics_public": False}), DEFINITIONS) as api:
        assert (await api.call("GET", "/metrics", token=False))[0] == 401
        gc.collect()  # the worker runs in this process: its collections are timed
        status, text = await api.call("GET", "/metrics")
        assert status == 200 and 'cg_gc_pause_seconds_count{generation="2"}' in text
        assert (await api.call("GET", "/healthz", token=False))[0] == 200


async def test_ids_outside_the_policy_are_422(api: Api) -> None:
    for customer in ("C\u001c1", "C{1}", "C\u200b1"):
        status, body = await api.call("POST", "/api/groups/7/members",
                                      json={"customer_id": customer, "staff_id": "s1", "source": "cms"})
        assert status == 422 and body["details"][0]["location"] == "customer_id", (customer, body)


async def test_create_edit_delete_groups(api: Api, redis: Redis) -> None:
    status, body = await api.call("GET", "/api/groups")
    assert status == 200
    assert [(g["id"], g["type"], g["members"], g["anonymous_guests"]) for g in body["groups"]] == [
        ("1", "public", 0, 0), ("7", "private", 0, 0), ("12", "dynamic", 0, 0), ("20", "dynamic", 0, 0)]

    await produce(api.settings, [view_event(api.clock, "Acme", visitor_id="ck-acme"),
                                 view_event(api.clock, "Sony", visitor_id="ck-sony")])
    await eventually(lambda: View(redis, api.settings).members("12"), lambda m: m[1] == {"ck-sony"})

    acme = {"id": 30, "name": "Acme fans", "type": "dynamic", "rules": [["brand", "viewed", "Acme"]]}
    status, body = await api.call("POST", "/api/groups", json=acme)
    assert status == 201 and body["id"] == "30" and body["rules"][0]["operator"] == "viewed"
    assert "30" in api.worker.registry.groups  # live on this worker when the call returns
    # the new dynamic group back-fills over stored profiles
    status, group = await eventually(lambda: api.call("GET", "/api/groups/30"),
                                     lambda r: r[1]["anonymous_guests"] == 1)
    assert (status, group["name"], group["anonymous_guests"]) == (200, "Acme fans", 1)
    assert group["definition"]["rules"] == [{"connector": "and", "field": "brand", "operator": "viewed",
                                             "value": "Acme"}]

    status, body = await api.call("POST", "/api/groups", json=acme)
    assert status == 409 and body["error"] == "group 30 already exists"

    status, body = await api.call("POST", "/api/groups", json={
        "id": "31", "name": "Typo", "type": "dynamic", "rules": [["brnd", "viewed", "Sony"]]})
    assert status == 422 and body["error"] == "invalid group definition"
    assert body["details"][0]["group_id"] == "31" and body["details"][0]["location"] == "rule 1"
    assert "did you mean 'brand'" in body["details"][0]["message"]
    status, body = await api.call("POST", "/api/groups", json={"id": "32", "name": "No rules", "type": "dynamic"})
    assert status == 422 and "needs at least one rule" in body["details"][0]["message"]
    status, body = await api.call("POST", "/api/groups", json={"id": "dry-run", "name": "x", "type": "private"})
    assert status == 422 and body["details"][0]["location"] == "id"

    status, body = await api.call("PUT", "/api/groups/30", json={**acme, "rules": [["brand", "viewed", "Sony"]]})
    assert status == 200 and body["rules"][0]["value"] == "Sony"
    members = await eventually(lambda: View(redis, api.settings).members("30"), lambda m: m[1] == {"ck-sony"})
    assert members == (set(), {"ck-sony"})
    status, body = await api.call("PUT", "/api/groups/30", json={**acme, "id": "31"})
    assert status == 422 and body["details"][0]["location"] == "id"
    assert (await api.call("PUT", "/api/groups/99", json={**acme, "id": "99"}))[0] == 404

    # renaming a public group that a consent row names would break group 20: refused, with the reason
    status, body = await api.call("PUT", "/api/groups/1", json={"name": "Email", "type": "public"})
    assert status == 422 and body["details"][0]["group_id"] == "20"
    assert (await api.call("DELETE", "/api/groups/1"))[0] == 422

    assert (await api.call("DELETE", "/api/groups/30"))[0] == 204
    assert "30" not in api.worker.registry.groups
    assert await eventually(lambda: View(redis, api.settings).members("30"), lambda m: m == (set(), set())) == (
        set(), set())
    status, body = await api.call("DELETE", "/api/groups/30")
    assert status == 404 and body["error"] == "group 30 does not exist"
    assert (await api.call("GET", "/api/groups/30"))[0] == 404


@pytest.mark.redis_cluster  # SCARD, HGET and HMGET pipelines over many slots
async def test_members_page_and_csv_download(api: Api, redis: Redis) -> None:
    customers = [f"c{i:02d}" for i in range(7)]
    events = [signup(api.clock, c, first_name="Ann", last_name="Lee") for c in customers]
    events.append(signup(api.clock, "evil", first_name="=HYPERLINK(\"http://x\")", last_name="-2+3"))
    events += [ev("consent", api.clock, 0.5, customer_id=c, group_id="1", granted=True, source="registration")
               for c in [*customers, "evil"]]
    await produce(api.settings, events)
    await eventually(lambda: View(redis, api.settings).members("20"), lambda m: len(m[0]) == 8)

    seen: dict[str, str | None] = {}
    cursor, pages = 0, 0
    while True:
        status, body = await api.call("GET", f"/api/groups/20?cursor={cursor}&count=3")
        assert status == 200 and body["members"] == 8 and body["anonymous_guests"] == 0
        seen.update({m["customer_id"]: m["email"] for m in body["members_page"]})
        cursor, pages = body["next_cursor"], pages + 1
        if cursor == 0:
            break
    assert seen == {c: f"{c}@example.com" for c in [*customers, "evil"]}

    async with api.http.get(f"{api.base}/api/groups/20/members.csv", headers=AUTH) as response:
        assert response.status == 200 and response.content_type == "text/csv"
        assert "group-20-members.csv" in response.headers["Content-Disposition"]
        text = await response.text()
    assert text.startswith("customer_id,email,first_name,last_name,date_joined\r\n")
    rows = {row["customer_id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {*customers, "evil"}
    assert rows["c03"] == {"customer_id": "c03", "email": "c03@example.com", "first_name": "Ann",
                           "last_name": "Lee", "date_joined": "2025-11-05"}
    assert rows["evil"]["first_name"] == "'=HYPERLINK(\"http://x\")" and rows["evil"]["last_name"] == "'-2+3"
    assert (await api.call("GET", "/api/groups/404/members.csv"))[0] == 404
    async with api.http.head(f"{api.base}/api/groups/20/members.csv", headers=AUTH) as response:
        assert response.status == 200 and response.content_type == "text/csv"


async def test_staff_add_and_remove_and_wrong_group_types(api: Api, redis: Redis) -> None:
    view = View(redis, api.settings)
    await produce(api.settings, [signup(api.clock, "c1")])
    status, body = await api.call("POST", "/api/groups/7/members",
                                  json={"customer_id": "c1", "staff_id": "till-3", "source": "pos"})
    assert status == 202 and body["event"]["type"] == "staff_membership" and body["event"]["action"] == "add"
    assert await eventually(lambda: view.members("7"), lambda m: m[0] == {"c1"}) == ({"c1"}, set())
    assert "7" in await view.groups_of("c:c1")
    staff = await redis.hget(view.keys.details("c:c1"), "staff:7")
    assert staff is not None and '"staff_id":"till-3"' in staff

    status, body = await api.call("DELETE", "/api/groups/7/members/c1?staff_id=till-3&source=cms")
    assert status == 202 and body["event"]["action"] == "remove"
    assert await eventually(lambda: view.members("7"), lambda m: not m[0]) == (set(), set())

    status, body = await api.call("POST", "/api/groups/12/members",
                                  json={"customer_id": "c1", "staff_id": "s", "source": "cms"})
    assert (status, body["error"]) == (409, "group 12 is dynamic: nobody can be added by hand")
    status, body = await api.call("POST", "/api/groups/1/members",
                                  json={"customer_id": "c1", "staff_id": "s", "source": "cms"})
    assert status == 409 and "public" in body["error"]
    assert (await api.call("DELETE", "/api/groups/12/members/c1?staff_id=s&source=cms"))[0] == 409
    status, body = await api.call("POST", "/api/groups/404/members",
                                  json={"customer_id": "c1", "staff_id": "s", "source": "cms"})
    assert (status, body["error"]) == (404, "group 404 does not exist")
    status, body = await api.call("POST", "/api/groups/7/members", json={"customer_id": "c1", "source": "web"})
    assert status == 422 and {d["location"] for d in body["details"]} == {"staff_id", "source"}
    assert (await api.call("DELETE", "/api/groups/7/members/c1"))[0] == 422  # no staff_id/source


async def test_member_records_page_through_a_private_group_with_who_added_each(api: Api, redis: Redis) -> None:
    """``GET /api/groups/{id}/records`` (the page's members list): SSCAN pages that together hold every
    member once, each with the staff record that put it there."""
    view = View(redis, api.settings)
    customers = sorted(f"r{i}" for i in range(140))  # past 128 members Redis pages SSCAN by COUNT
    for customer in customers:
        status, _ = await api.call("POST", "/api/groups/7/members",
                                   json={"customer_id": customer, "staff_id": f"staff-{customer}", "source": "cms"})
        assert status == 202
    await eventually(lambda: view.members("7"), lambda m: m[0] == set(customers))
    seen: list[dict[str, Any]] = []
    cursor, pages = 0, 0
    while True:
        status, body = await api.call("GET", f"/api/groups/7/records?cursor={cursor}&count=20")
        assert status == 200 and body["type"] == "private", body
        assert body["columns"] == ["customer_id", "email", "first_name", "last_name", "date_joined",
                                   "added_at", "added_source", "added_by"]
        seen += body["records"]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor == 0:
            break
    assert sorted(r["customer_id"] for r in seen) == customers  # every member, once
    assert all(r["added_by"] == f"staff-{r['customer_id']}" and r["added_source"] == "cms" for r in seen)
    assert pages > 1  # it was paged
    assert (await api.call("GET", "/api/groups/7/records?cursor=-1"))[0] == 400
    assert (await api.call("GET", "/api/groups/7/records?count=5000"))[0] == 400
    assert (await api.call("GET", "/api/groups/404/records"))[0] == 404
    assert (await api.call("GET", "/api/groups/7/records", token=False))[0] == 401


async def test_explain_and_dry_run_over_live_profiles(api: Api, redis: Redis) -> None:
    view = View(redis, api.settings)
    events = [view_event(api.clock, "Sony", visitor_id=f"ck{i}") for i in range(3)]
    events += [view_event(api.clock, "Sony", customer_id="fan"), view_event(api.clock, "Acme", customer_id="meh"),
               ev("search", api.clock, visitor_id="ck-s", query="sony headphones"),
               view_event(api.clock, "Acme", visitor_id="ck-acme")]
    await produce(api.settings, events)
    members = await eventually(lambda: view.members("12"), lambda m: len(m[1]) == 4 and len(m[0]) == 1)
    await eventually(lambda: api.call("POST", "/api/groups/dry-run", json={"rules": [["brand", "viewed", "*"]]}),
                     lambda r: r[1].get("profiles_scanned") == 7)

    sony_rules = next(d["rules"] for d in DEFINITIONS if d["id"] == "12")
    status, body = await api.call("POST", "/api/groups/dry-run", json={"rules": sony_rules})
    assert status == 200
    total = api.settings.topic_partitions
    assert {k: body[k] for k in ("customers", "anonymous_guests", "profiles_scanned")} == {
        "customers": len(members[0]), "anonymous_guests": len(members[1]), "profiles_scanned": 7}
    assert (body["partitions_answered"], body["partitions_total"], body["complete"]) == (total, total, True)
    assert [w["answered"] for w in body["workers"]] == [True]  # one worker: it answered for all
    status, local = await api.call("POST", "/api/groups/dry-run?scope=local", json={"rules": sony_rules})
    assert status == 200 and local["partitions"] == list(range(total)) and local["customers"] == body["customers"]
    status, wrong = await api.call("POST", "/api/groups/dry-run?scope=nearby", json={"rules": sony_rules})
    assert status == 422 and "scope" in wrong["error"]
    status, body = await api.call("POST", "/api/groups/dry-run",
                                  json={"name": "Acme", "rules": [["brand", "viewed", "Acme"]]})
    assert (status, body["customers"], body["anonymous_guests"]) == (200, 1, 1)
    status, body = await api.call("POST", "/api/groups/dry-run", json={"rules": [["brand", "smelled", "Sony"]]})
    assert status == 422 and body["error"] == "invalid rules" and body["details"][0]["location"] == "rule 1"
    status, body = await api.call("POST", "/api/groups/dry-run", json={"type": "private"})
    assert status == 422 and body["details"][0]["location"] == "type"

    status, body = await api.call("GET", "/api/subjects/c:fan/explain?group=12")
    assert status == 200 and body["subject"] == "c:fan" and len(body["groups"]) == 1
    outcome = body["groups"][0]
    assert (outcome["group_id"], outcome["matched"], outcome["name"]) == ("12", True, "Sony interest")
    tree = outcome["explanation"]
    assert tree["holds"] is True and any("viewed" in child["text"] and child["holds"] for child in tree["children"])
    status, body = await api.call("GET", "/api/subjects/v:ck-acme/explain")
    assert status == 200 and [g["group_id"] for g in body["groups"]] == ["1", "7", "12", "20"]
    assert not any(g["matched"] for g in body["groups"])

    status, body = await api.call("GET", "/api/subjects/c:nobody/explain")
    assert status == 404 and "no profile" in body["error"]
    assert (await api.call("GET", "/api/subjects/c:fan/explain?group=404"))[0] == 404
    assert (await api.call("GET", "/api/subjects/x:1/explain"))[0] == 400


async def test_erasure_removes_the_customer_from_redis(api: Api, redis: Redis) -> None:
    view = View(redis, api.settings)
    await produce(api.settings, [
        signup(api.clock, "gone", public_groups=["1"]), view_event(api.clock, "Sony", customer_id="gone"),
        signup(api.clock, "stays", public_groups=["1"])])
    await eventually(lambda: view.groups_of("c:gone"), lambda g: g == {"1", "12", "20"})
    await api.call("POST", "/api/groups/7/members", json={"customer_id": "gone", "staff_id": "s", "source": "cms"})
    assert await eventually(lambda: view.groups_of("c:gone"), lambda g: "7" in g) == {"1", "7", "12", "20"}

    status, body = await api.call("POST", "/api/customers/gone/erase", json={"requested_by": "dpo-1"})
    assert status == 202 and body["event"]["type"] == "erasure" and body["event"]["requested_by"] == "dpo-1"
    assert await eventually(lambda: view.groups_of("c:gone"), lambda g: not g) == set()
    for group in ("1", "7", "12", "20"):
        assert "gone" not in (await view.members(group))[0]
    assert await redis.exists(view.keys.details("c:gone")) == 0
    assert "stays" in (await view.members("1"))[0]
    assert (await api.call("GET", "/api/subjects/c:gone/explain"))[0] == 404

    status, body = await api.call("POST", "/api/customers/gone/erase", json={})
    assert status == 422 and body["details"][0]["location"] == "requested_by"
