"""The server's own endpoints: probes, metrics and ``whoami`` (the first authenticated endpoint)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from govfabric.auth import principals
from govfabric.errors import Unavailable
from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES)


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str


class Ready(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str
    checks: dict[str, str]


class WhoAmI(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    roles: list[str]
    department: str | None


@router.get("/healthz", tags=["server"], response_model=Health)
def healthz() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", tags=["server"], response_model=Ready)
def readyz(request: Request) -> Ready:
    """The store, the default engine (and Redis, when configured) answer; 503 otherwise."""
    state = request.app.state.server
    checks: dict[str, str] = {}
    failed: list[str] = []
    try:
        from sqlalchemy import text

        with state.origin.store.session() as s:
            s.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception:
        checks["store"] = "unreachable"
        failed.append("store")
    engine = state.settings.default_engine
    try:
        reachable = state.origin.queries.engine(engine).status().get("reachable", False)
        checks[f"engine:{engine}"] = "ok" if reachable else "unreachable"
        if not reachable:
            failed.append(f"engine {engine}")
    except Exception:
        checks[f"engine:{engine}"] = "unreachable"
        failed.append(f"engine {engine}")
    if state.settings.redis_url:
        try:
            ok = state.limits.reachable()
        except Exception:
            ok = False
        checks["redis"] = "ok" if ok else "unreachable"
        if not ok:
            failed.append("redis")
    if failed:
        raise Unavailable(f"not ready: {', '.join(failed)} unreachable; check the server log and the "
                          "services it names")
    return Ready(status="ok", checks=checks)


@router.get("/metrics", tags=["server"], response_class=PlainTextResponse,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics of this process: calls, latency histograms and errors per service."""
    return PlainTextResponse(request.app.state.server.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/whoami", tags=["server"], response_model=WhoAmI)
def whoami(fabric: Fabric = Depends(current_fabric)) -> WhoAmI:
    """Who this request acts as: an app (kind business_system) or a person."""
    actor = fabric.actor
    with fabric.store.session() as s:
        p = principals.get(s, actor.name)
        return WhoAmI(name=p.name, kind=p.kind, roles=sorted(actor.roles), department=p.department)
