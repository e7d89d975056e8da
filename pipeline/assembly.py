"""The composition root: a worker with its admin API, as the CLI, the demo and the tests run it.

The worker (:mod:`pipeline.stream.worker`) knows nothing of the admin API, and
the admin API sees the worker only through a narrow read-only view
(:class:`pipeline.admin.service.WorkerView`); this is the one place that puts
the two together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pipeline.admin.routes import register_admin
from pipeline.settings import Settings
from pipeline.stream.worker import Worker


def build_worker(settings: Settings, *, app_id: str | None = None, web_enabled: bool = True,
                 clock: Callable[[], datetime] | None = None) -> Worker:
    """A worker serving the admin API, ``/healthz`` and ``/metrics`` on its web port."""
    worker = Worker(settings, app_id=app_id, web_enabled=web_enabled, clock=clock)
    register_admin(worker.app, worker, worker.profiles_table)
    return worker
