"""HTTP plumbing of the worker's web server: auth on every route, one error shape, request bodies.

Every response under ``/api/`` that is not a success is
``{"error": <one line>, "details": <anything or null>}``: also the router's own
404/405 and unexpected 500s, which is why this is an aiohttp middleware (it sees
what no view sees). The middleware also checks the token on **every** path the
server answers (Faust's own views included), so a route added later is
protected unless it is listed in :data:`pipeline.admin.auth.PUBLIC_ROUTES`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from pipeline.admin.auth import PUBLIC_ROUTES, Authenticator, Route, is_public

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """Raised by views; the middleware turns it into the JSON error response."""

    def __init__(self, status: int, error: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details
        self.headers = headers or {}


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def error_response(status: int, error: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": error, "details": details}, status, headers)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "the request body is not valid JSON", str(exc)) from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def route_template(request: web.Request) -> str | None:
    """The matched route's template (``/api/groups/{group_id}``), None when nothing matched."""
    resource = getattr(request.match_info.route, "resource", None)
    return resource.canonical if resource is not None else None


def make_middleware(auth: Authenticator, public: frozenset[Route] = PUBLIC_ROUTES) -> Any:
    """The token on every route but ``public`` (deny by default); JSON errors under ``/api/``."""

    @web.middleware
    async def admin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_public(request.method, route_template(request), public):
            problem = auth.check(request.headers.get("Authorization"))
            if problem:
                return error_response(401, "unauthorized", problem, {"WWW-Authenticate": "Bearer"})
        if not request.path.startswith(API_PREFIX):
            return await handler(request)
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.error, exc.details, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            details: Any = None
            headers: dict[str, str] = {}
            if isinstance(exc, web.HTTPMethodNotAllowed):
                details = {"allowed_methods": sorted(exc.allowed_methods)}
                headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
            error = "no such endpoint" if exc.status == 404 else exc.reason.lower()
            return error_response(exc.status, error, details, headers)
        except Exception:
            log.exception("admin API: %s %s failed", request.method, request.path)
            return error_response(500, "internal error", "see the worker's log")

    return admin_middleware
