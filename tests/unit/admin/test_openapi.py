"""The OpenAPI description covers every admin route the worker registers (pipeline.admin.openapi)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.admin.auth import PUBLIC_ROUTES
from pipeline.admin.openapi import build_spec
from pipeline.assembly import build_worker
from pipeline.settings import Settings


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    """(method, path) of every /api/ route on a real worker's web app (no servers needed)."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("worker")))
    worker = build_worker(settings, web_enabled=False)
    routes = {(route.method.lower(), route.resource.canonical)  # type: ignore[union-attr]
              for route in worker.app.web.web_app.router.routes()}
    return {(m, p) for m, p in routes if p.startswith("/api/") and m not in ("head", "options")}


def test_every_registered_admin_route_is_described(registered: set[tuple[str, str]]) -> None:
    spec = build_spec()
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert len(registered) >= 12
    assert registered - described == set()
    assert described - registered == set()  # and nothing that does not exist


def test_it_is_openapi_3_1_and_public_routes_say_so() -> None:
    spec = build_spec()
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            public = (method.upper(), path) in PUBLIC_ROUTES
            assert (op.get("security") == []) == public, (method, path)
            assert ("401" in op["responses"]) != public, (method, path)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves_and_every_path_parameter_is_declared() -> None:
    spec = build_spec()
    schemas = spec["components"]["schemas"]
    for ref in _refs(spec):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path, ops in spec["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)
            assert op["operationId"] and op["summary"]
