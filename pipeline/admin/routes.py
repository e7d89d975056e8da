"""Putting the admin API and its page on a worker's web server: routes, the auth and error middleware, shutdown."""

from __future__ import annotations

from typing import Any

import faust

from pipeline.admin.auth import Authenticator, public_routes
from pipeline.admin.http import make_middleware
from pipeline.admin.page import register_page
from pipeline.admin.page_api import PAGE_API_ROUTES
from pipeline.admin.service import AdminService, WorkerView
from pipeline.admin.views import ROUTES, ExplainView


def register_admin(app: faust.App, worker: WorkerView, profiles_table: Any) -> AdminService:
    """Add the admin routes, auth/error middleware and the API's producer to a worker's app.

    ``profiles_table`` is the Faust table that ``table_route`` uses to send an
    explanation request to the worker that owns the subject's partition.
    """
    settings = worker.settings
    service = AdminService(worker)
    auth = Authenticator(settings.admin_token, settings.mode)
    middleware = make_middleware(auth, public_routes(settings.metrics_public))
    app.web.web_app.middlewares.append(middleware)  # type: ignore[attr-defined]  # faust types web as Web
    for path, base in (*ROUTES, *PAGE_API_ROUTES):
        attrs: dict[str, object] = {"service": service, "__module__": base.__module__}
        if base is ExplainView:
            attrs["get"] = app.table_route(table=profiles_table, match_info="subject")(
                base.get)  # type: ignore[arg-type]  # the view's handler takes the subject too
        app.page(path, name=f"admin-{base.__name__}")(type(base.__name__, (base,), attrs))
    register_page(app.web.web_app.router)  # type: ignore[attr-defined]  # faust types web as Web

    async def stop_producer(sender: object, **_: object) -> None:
        await service.producer.stop()

    app.on_before_shutdown.connect(stop_producer)  # type: ignore[arg-type]  # mode's signal types
    return service
