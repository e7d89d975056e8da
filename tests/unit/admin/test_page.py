"""The Customer Groups page's files and its three API helpers (pipeline.admin.page, pipeline.admin.page_api).

No servers: the files are served by a loopback aiohttp app behind the real
middleware, and the helpers run over a stand-in worker with a real registry.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.admin.auth import PAGE_ROUTES, Authenticator, is_public
from pipeline.admin.http import ApiError, make_middleware
from pipeline.admin.page import ASSETS, HEADERS, PREFIX, STATIC, page_paths, register_page
from pipeline.admin.page_api import check, vocabulary
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.rules import build
from schemas.groups import GroupDefinition

POLICY = ProfilePolicy()
DEFINITIONS = [
    GroupDefinition(id="1", name="Newsletter", type="public"),
    GroupDefinition.model_validate({"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]}),
]


def test_every_served_file_exists_and_is_listed_public_and_nothing_else_is() -> None:
    for file, _ in ASSETS.values():
        assert (STATIC / file).is_file(), file
    assert {path for _, path in PAGE_ROUTES} == {*page_paths(), PREFIX.rstrip("/")}
    assert {f.name for f in STATIC.iterdir()} == {file for file, _ in ASSETS.values()}
    assert is_public("HEAD", "/admin/app.js") and not is_public("POST", "/admin/")


def test_the_page_loads_only_its_own_files_and_never_parses_data_as_html() -> None:
    served = {name for name in ASSETS if name}
    html = (STATIC / "index.html").read_text()
    assert set(re.findall(r'(?:src|href)="(?!data:)([^"#]+)"', html)) <= served
    for name in served:
        text = (STATIC / name).read_text()
        if name.endswith(".js"):
            assert set(re.findall(r'from "\./([^"]+)"', text)) <= served, name
            for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage."):
                assert banned not in text, (name, banned)
    # no inline script or handler (the Content-Security-Policy would block them anyway)
    assert "<script>" not in html and re.search(r"<[^>]+\son[a-z]+=", html) is None


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[make_middleware(Authenticator("t0ken", "production"))])
    register_page(app.router)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_the_shell_is_public_with_strict_headers_and_unknown_paths_still_need_the_token(client: TestClient) -> None:
    response = await client.get("/admin/")
    assert response.status == 200 and response.content_type == "text/html"
    assert "<title>Customer Groups</title>" in await response.text()
    for header, value in HEADERS.items():
        assert response.headers[header] == value
    response = await client.get("/admin/app.js")
    assert response.status == 200 and response.content_type == "text/javascript"
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin/"
    for path in ("/admin/secret.js", "/admin/../pipeline/settings.py", "/admin/static/app.js"):
        assert (await client.get(path)).status == 401, path
    assert (await client.get("/admin/secret.js", headers={"Authorization": "Bearer t0ken"})).status == 404
    assert (await client.post("/admin/")).status == 401


def test_registering_a_file_that_is_not_listed_public_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ASSETS, "extra.js", ("app.js", "text/javascript"))
    with pytest.raises(RuntimeError, match=r"extra\.js"):
        register_page(web.Application().router)


def test_every_operator_the_vocabulary_offers_is_one_the_compiler_takes() -> None:
    vocab = vocabulary()
    names = {f["name"] for f in vocab["fields"]}
    assert {"datejoined", "orders", "brand", "search", "consent"} <= names
    for f in vocab["fields"]:
        for operator in f["operators"]:
            rules = [{"field": f["name"], "operator": operator, "value": "x"}]
            ruleset = build([(GroupDefinition.model_validate(
                {"id": "9", "name": "t", "type": "dynamic", "rules": rules}), "test")], POLICY)
            wrong_operator = [e for e in ruleset.errors if "operator" in e.message or "not an action" in e.message]
            assert not wrong_operator, (f["name"], operator, wrong_operator)
    assert vocab["aliases"]["fields"]["datejoined"] == "datejoined"
    assert vocab["aliases"]["operators"]["after"] == "greater than"
    assert vocab["aliases"]["actions"]["bought"] == "ordered" and vocab["aliases"]["actions"]["any"] == "any"


def _service() -> SimpleNamespace:
    worker = SimpleNamespace(registry=GroupRegistry.from_definitions(DEFINITIONS, POLICY), policy=POLICY)
    return SimpleNamespace(worker=worker)


def test_check_is_the_compiler_with_the_live_groups_beside_the_draft() -> None:
    answer = check(_service(), {"rules": [["consent", "contains", "Newsletter"], ["or", "lastseen", "in the last", "30 days"]]})  # type: ignore[arg-type]
    assert answer["ok"] is True and answer["time_dependent"] is True
    with pytest.raises(ApiError) as caught:
        check(_service(), {"rules": [["orders", "greater than", "lots"], {"any": [["brnd", "viewed", "Sony"]]}]})  # type: ignore[arg-type]
    assert caught.value.status == 422
    located = {(d["location"], d["message"].split(",")[0]) for d in caught.value.details}
    assert ("rule 1", "expected a whole number") in located
    assert any(loc == "rule 2 > any 1" and "did you mean 'brand'" in message
               for loc, message in ((d["location"], d["message"]) for d in caught.value.details))
    with pytest.raises(ApiError) as caught:
        check(_service(), {"name": "", "rules": [{"field": "orders", "operator": "equals", "value": 0, "at_least": "x"}]})  # type: ignore[arg-type]
    assert {d["location"] for d in caught.value.details} == {"name", "rules.0.at_least"}
