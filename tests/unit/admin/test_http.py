"""The admin middleware: auth before anything, one JSON error shape (pipeline.admin.http).

A tiny aiohttp app on a loopback port, no Kafka or Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.admin.auth import Authenticator
from pipeline.admin.http import ApiError, json_response, make_middleware, read_json_object

AUTH = {"Authorization": "Bearer t0ken"}


async def _echo(request: web.Request) -> web.Response:
    return json_response(await read_json_object(request))


async def _missing(request: web.Request) -> web.Response:
    raise ApiError(404, "group 9 does not exist", {"hint": "x"})


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


async def _ok(request: web.Request) -> web.Response:
    return json_response({"ok": True})


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[make_middleware(Authenticator("t0ken", "production"))])
    app.router.add_post("/api/echo", _echo)
    app.router.add_get("/api/missing", _missing)
    app.router.add_get("/api/boom", _boom)
    app.router.add_get("/api/public-groups", _ok)
    app.router.add_get("/metrics", _ok)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_no_or_wrong_token_is_401_json(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.post("/api/echo", json={"a": 1}, headers=headers)
        assert response.status == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert set(await response.json()) == {"error", "details"}


async def test_public_routes_need_no_token_and_every_other_path_does(client: TestClient) -> None:
    assert (await client.get("/api/public-groups")).status == 200
    assert (await client.get("/metrics")).status == 200
    for path in ("/table/profiles/c:C1/", "/router/", "/nowhere", "/api/missing"):  # unknown or not public
        assert (await client.get(path)).status == 401, path


async def test_bodies_must_be_json_objects(client: TestClient) -> None:
    ok = await client.post("/api/echo", json={"a": 1}, headers=AUTH)
    assert ok.status == 200 and await ok.json() == {"a": 1}
    for body in (b"", b"{oops", b"[1]"):
        response = await client.post("/api/echo", data=body, headers=AUTH)
        assert response.status == 400
        assert set(await response.json()) == {"error", "details"}


async def test_api_errors_router_errors_and_crashes_are_all_json(client: TestClient) -> None:
    response = await client.get("/api/missing", headers=AUTH)
    assert (response.status, await response.json()) == (
        404, {"error": "group 9 does not exist", "details": {"hint": "x"}})
    response = await client.get("/api/nowhere", headers=AUTH)
    assert response.status == 404 and (await response.json())["error"] == "no such endpoint"
    response = await client.delete("/api/echo", headers=AUTH)
    assert response.status == 405 and (await response.json())["details"] == {"allowed_methods": ["POST"]}
    response = await client.get("/api/boom", headers=AUTH)
    body = await response.json()
    assert response.status == 500 and body["error"] == "internal error"
    assert "secret" not in str(body)  # internals stay in the log
