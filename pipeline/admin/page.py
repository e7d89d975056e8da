"""The Customer Groups page at ``/admin/``: a few fixed files, no data, no build step.

The page is plain HTML with a little vanilla JavaScript (ES modules the
browser loads as they are). Everything it shows comes from the admin API
under ``/api/``, called with the bearer token the admin types once (kept in
the tab's ``sessionStorage``, never in a URL). So the files themselves are
public, like ``/api/openapi.json``: they hold no customer data and no secret.

Serving stays deny-by-default: each file is its own fixed route, listed in
:data:`pipeline.admin.auth.PAGE_ROUTES`; there is no directory listing and no
path parameter, so ``/admin/anything-else`` is an unmatched path and answers
401 without the token, 404 with it, like every other unknown path.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from pipeline.admin.auth import PAGE_ROUTES
from pipeline.admin.http import Handler

STATIC = Path(__file__).with_name("static")
PREFIX = "/admin/"
#: URL name under /admin/ -> (file in static/, content type). "" is the page itself.
ASSETS: dict[str, tuple[str, str]] = {
    "": ("index.html", "text/html"),
    "style.css": ("style.css", "text/css"),
    "api.js": ("api.js", "text/javascript"),
    "app.js": ("app.js", "text/javascript"),
    "dom.js": ("dom.js", "text/javascript"),
    "groups.js": ("groups.js", "text/javascript"),
    "editor.js": ("editor.js", "text/javascript"),
    "rows.js": ("rows.js", "text/javascript"),
    "subject.js": ("subject.js", "text/javascript"),
}
#: The page only talks to its own origin; no inline script, no framing (clickjacking).
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "X-Frame-Options": "DENY",
}


def page_paths() -> list[str]:
    return [PREFIX + name for name in ASSETS]


def _handler(body: bytes, content_type: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=HEADERS)
    return serve


async def _to_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(PREFIX)


def register_page(router: web.UrlDispatcher) -> None:
    """Add a GET (and HEAD) route per file; each must be listed as public, or it would need the token."""
    missing = {("GET", path) for path in [*page_paths(), PREFIX.rstrip("/")]} - PAGE_ROUTES
    if missing:
        raise RuntimeError(f"page routes not listed in pipeline.admin.auth.PAGE_ROUTES: {sorted(missing)}")
    for name, (file, content_type) in ASSETS.items():
        router.add_get(PREFIX + name, _handler((STATIC / file).read_bytes(), content_type))
    router.add_get(PREFIX.rstrip("/"), _to_page)
