"""A request routed to the worker that owns a subject (Faust's table_route) carries the caller's token.

Faust's router forwards ``request.headers`` as they came; the other worker's
middleware then checks the same bearer token. Checked against a real loopback
HTTP server standing in for the other worker, with the installed Faust's own
``Router._route_req``, so an upgrade that stopped forwarding headers fails here.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
import faust
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from pipeline.admin.auth import Authenticator
from pipeline.admin.http import json_response, make_middleware

TOKEN = "t" * 40


async def test_a_routed_request_reaches_the_owner_with_the_token() -> None:
    async def explain(request: web.Request) -> web.Response:
        return json_response({"subject": request.match_info["subject"]})

    owner = web.Application(middlewares=[make_middleware(Authenticator(TOKEN, "production"))])
    owner.router.add_get("/api/subjects/{subject}/explain", explain)
    async with TestServer(owner) as server, aiohttp.ClientSession() as http:
        app = faust.App("routing-test", web_enabled=False, canonical_url="http://127.0.0.1:1")
        app._http_client = http  # noqa: SLF001 - the client Faust routes through
        incoming = SimpleNamespace(url=URL("http://127.0.0.1:1/api/subjects/c:C1/explain"), method="GET",
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        text_web = SimpleNamespace(text=lambda body, content_type, status: (status, body))
        status, body = await app.router._route_req(  # noqa: SLF001 - what table_route calls
            URL(f"http://127.0.0.1:{server.port}"), text_web, incoming)  # type: ignore[arg-type]
        assert (status, body) == (200, '{"subject":"c:C1"}')

        incoming.headers = {}  # without the token the owner refuses, as any worker does
        status, _ = await app.router._route_req(  # noqa: SLF001
            URL(f"http://127.0.0.1:{server.port}"), text_web, incoming)  # type: ignore[arg-type]
        assert status == 401
