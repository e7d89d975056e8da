"""Bearer-token authentication for everything a worker's web server serves.

**Deny by default.** Every route, the admin API's and any other the worker or
Faust registers, needs ``Authorization: Bearer <CG_ADMIN_TOKEN>``, except the
few listed here on purpose:

* ``GET /api/public-groups``: the storefront's registration form reads the
  public groups from customers' browsers, where a token would leak;
* ``GET /api/openapi.json``: what a client reads before it has a token;
* ``GET /healthz``: what a load balancer or Kubernetes probe asks;
* ``GET /metrics``: what Prometheus scrapes (counts, no customer data), unless
  ``CG_METRICS_PUBLIC=false`` puts it behind the token too;
* ``GET /admin/`` and its script and style files (:data:`PAGE_ROUTES`): the
  Customer Groups page's shell, with no data in it; every figure it shows
  comes from the token-protected ``/api/`` calls it makes (:mod:`pipeline.admin.page`).

A route added later, by us or by a Faust upgrade, is therefore protected
without anyone having to remember it.

Production refuses to start without a token (``Settings``). In development
with no token configured, calls are let through and a warning is logged once,
so a laptop needs no setup but nobody mistakes it for a protected service.
"""

from __future__ import annotations

import hmac
import logging

log = logging.getLogger(__name__)

Route = tuple[str, str]
METRICS_ROUTE: Route = ("GET", "/metrics")

#: The page's fixed files (pipeline.admin.page serves exactly these): HTML, ES modules, CSS.
PAGE_ROUTES: frozenset[Route] = frozenset(("GET", path) for path in (
    "/admin", "/admin/", "/admin/style.css", "/admin/api.js", "/admin/app.js", "/admin/dom.js",
    "/admin/groups.js", "/admin/editor.js", "/admin/rows.js", "/admin/subject.js",
))

#: (method, route template) anyone may call; HEAD counts as GET.
PUBLIC_ROUTES: frozenset[Route] = frozenset({
    ("GET", "/api/public-groups"),
    ("GET", "/api/openapi.json"),
    ("GET", "/healthz"),
    METRICS_ROUTE,
    *PAGE_ROUTES,
})


def public_routes(metrics_public: bool = True) -> frozenset[Route]:
    """The routes that need no token, with or without ``/metrics``."""
    return PUBLIC_ROUTES if metrics_public else PUBLIC_ROUTES - {METRICS_ROUTE}


def is_public(method: str, template: str | None, public: frozenset[Route] = PUBLIC_ROUTES) -> bool:
    """True for the routes that need no token; an unmatched path (template None) is never public."""
    if template is None:
        return False
    return ("GET" if method.upper() == "HEAD" else method.upper(), template) in public


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or malformed."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class Authenticator:
    """Checks a request's Authorization header against the configured token."""

    def __init__(self, token: str | None, mode: str = "development") -> None:
        self.token = token or None
        self.mode = mode
        self._warned = False

    def check(self, header: str | None) -> str | None:
        """None when the call may proceed, else why not (for the 401 body)."""
        if self.token is None:
            if self.mode == "production":  # Settings refuses this; never fail open anyway
                return "the admin API has no token configured (CG_ADMIN_TOKEN)"
            if not self._warned:
                self._warned = True
                log.warning("CG_ADMIN_TOKEN is not set: the admin API accepts every call "
                            "(development mode only; production refuses to start without it)")
            return None
        given = bearer_token(header)
        if given is None:
            return "missing bearer token: send 'Authorization: Bearer <token>'"
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "invalid bearer token"
        return None
