"""HTTP routes of the routing gateway: ``/api/v1/routed/query/{service}`` forwards a conditional
query call to one of the service's providers (see ``service.py``). The router's lifespan runs the
active health checker of this server process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.responses import Response

from govfabric.errors import ValidationFailed
from govfabric.server.deps import signed_fabric
from govfabric.server.errors import ERROR_RESPONSES
from govfabric.sharing_modes.routing.service import HealthChecker, runtime_of

SERVICE = Path(..., pattern=r"^[a-z][a-z0-9_]{0,63}$", description="the query service's name")
MAX_QUERY_BYTES = 64 * 1024


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Probe the providers of routed services in the background while the server runs."""
    server = getattr(app.state, "server", None)
    if server is None:  # a bare test app: no origin, no prober
        yield
        return
    checker = HealthChecker(server.origin, server.settings.route_health_interval_s)
    checker.start()
    try:
        yield
    finally:
        checker.stop()
        runtime_of(server.origin.store).close()


router = APIRouter(prefix="/api/v1/routed", tags=["routing"], responses=ERROR_RESPONSES, lifespan=lifespan)


@router.get(
    "/query/{service}",
    summary="Call a conditional query service through one of its providers",
    description=(
        "Same parameters and answers as `GET /api/v1/query/{service}`. The caller needs a grant on the "
        "service's table here; the call is forwarded, signed as the gateway's app, to a provider chosen by "
        "the service's policy (round-robin, weighted or the caller's region). A provider's 2xx/4xx answer is "
        "passed back; connection errors, timeouts and 5xx fail over to the next provider; 503 when none answers."),
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}},
                                 "text/csv": {"schema": {"type": "string"}},
                                 "application/vnd.apache.arrow.stream": {"schema": {"type": "string",
                                                                                    "format": "binary"}}},
                     "description": "the provider's answer (see GET /api/v1/query/{service})"}},
    response_class=Response,
)
def routed_query(request: Request, service: str = SERVICE) -> Response:
    fabric = signed_fabric(request)  # the caller's credentials checked here, in this thread (one hop per call)
    if len(request.url.query) > MAX_QUERY_BYTES:
        raise ValidationFailed("the query string is too long")
    got = fabric.routes.forward(service, request.query_params.multi_items(), request.headers.get("accept"))
    request.state.audit = {"routed_provider": got.provider}
    headers = {k: v for k, v in got.headers.items() if k.lower() != "content-type"}
    return Response(got.body, status_code=got.status, media_type=got.headers.get("content-type"), headers=headers)
