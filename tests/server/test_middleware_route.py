"""The middleware names a request by its route template, never by its raw path: metric labels,
rate-limit keys and audit targets must stay a bounded set, whatever ids callers put in paths."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from govfabric.server.middleware import _route


def _scope(app: FastAPI, path: str) -> dict[str, object]:
    return {"type": "http", "path": path, "method": "GET", "root_path": "", "app": app, "headers": []}


def test_included_routers_are_matched_by_template() -> None:
    router = APIRouter(prefix="/api/v1/query")

    @router.get("/{service}/schema")
    def schema(service: str) -> dict[str, str]:
        return {}

    @router.get("/files/{file_id}")
    def file(file_id: str) -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    assert _route(_scope(app, "/api/v1/query/files/3d80aa")) == ("/api/v1/query/files/{file_id}",) * 2
    assert _route(_scope(app, "/api/v1/query/files/ffff01")) == ("/api/v1/query/files/{file_id}",) * 2
    # a route naming a service is counted per service (quotas are per app and service)
    assert _route(_scope(app, "/api/v1/query/ent_lookup/schema")) == (
        "/api/v1/query/{service}/schema", "/api/v1/query/ent_lookup/schema")
    assert _route(_scope(app, "/no/such/path")) == ("unmatched", "unmatched")


def test_no_mounted_router_nests_another() -> None:
    """A nested ``include_router`` keeps its prefix out of its routes' paths (FastAPI ≥ 0.165), so the
    middleware could not name its requests: every mounted router registers full paths itself."""
    import importlib

    from govfabric.server.app import ROUTERS

    for spec in ROUTERS:
        module, attr = spec.split(":")
        router = getattr(importlib.import_module(module), attr)
        nested = [r for r in router.routes if not isinstance(getattr(r, "path", None), str)]
        assert not nested, f"{spec} includes another router; register its routes with full paths"
