"""Bearer-token authentication for the admin API.

Every admin call needs ``Authorization: Bearer <CG_ADMIN_TOKEN>``. Two routes
are public on purpose: the storefront's registration form reads the public
groups with no token (it runs in customers' browsers, where a token would
leak), and the OpenAPI description is what a client reads before it has one.

Production refuses to start without a token (``Settings``). In development
with no token configured, calls are let through and a warning is logged once,
so a laptop needs no setup but nobody mistakes it for a protected service.
"""

from __future__ import annotations

import hmac
import logging

log = logging.getLogger(__name__)

#: (method, route template) anyone may call; HEAD counts as GET.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/public-groups"),
    ("GET", "/api/openapi.json"),
})


def is_public(method: str, template: str | None) -> bool:
    """True for the routes that need no token."""
    if template is None:
        return False
    return ("GET" if method.upper() == "HEAD" else method.upper(), template) in PUBLIC_ROUTES


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
