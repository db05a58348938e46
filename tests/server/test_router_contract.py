"""The contract a sharing mode's router relies on, through the real app: ``current_fabric`` gives
the caller's façade, audit events its endpoint writes carry the request id (sync endpoints run in
threads), ``request.state.audit`` adds fields to the ``api.call`` event, and a bug is one JSON 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from govfabric.auth import apps
from govfabric.auth.models import AuditEvent
from govfabric.fabric import Fabric
from govfabric.server.deps import current_fabric
from govfabric.server.errors import ERROR_RESPONSES
from tests.server.conftest import signed

router = APIRouter(prefix="/api/v1/probe", responses=ERROR_RESPONSES)


@router.post("/write")
def write(request: Request, fabric: Fabric = Depends(current_fabric)) -> dict[str, str]:
    fabric.audit.append("probe.write", "probe:1", {"by": fabric.user})
    request.state.audit = {"rows": 7}
    return {"user": fabric.user}


@router.get("/boom")
def boom(fabric: Fabric = Depends(current_fabric)) -> dict[str, str]:
    raise RuntimeError("secret detail")


def test_a_routers_endpoint_through_the_server(served: Any, gs_app: apps.Issued,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from govfabric.server.app import ROUTERS, create_app

    client = TestClient(create_app(served, routers=(*ROUTERS, f"{__name__}:router")),
                        raise_server_exceptions=False)
    r = client.send(signed(client.build_request("POST", "/api/v1/probe/write", content=b"{}",
                                                headers={"X-Request-ID": "rid-7"}), gs_app))
    assert r.status_code == 200 and r.json() == {"user": "gs_system"}
    with served.store.session() as s:
        written = s.scalars(select(AuditEvent).where(AuditEvent.action == "probe.write")).one()
        call = s.scalars(select(AuditEvent).where(AuditEvent.action == "api.call")).all()[-1]
    assert written.actor == "gs_system" and written.details["request_id"] == "rid-7"
    assert call.details["rows"] == 7 and call.details["request_id"] == "rid-7"
    assert call.target == "api:/api/v1/probe/write"

    with caplog.at_level("ERROR", logger="govfabric.server"):
        r = client.send(signed(client.build_request("GET", "/api/v1/probe/boom"), gs_app))
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert r.json()["request_id"] == r.headers["x-request-id"] and "secret detail" not in r.text
    # the log names the class and where, never the message (it may quote a value)
    assert "RuntimeError" in caplog.text and "boom" in caplog.text and "secret detail" not in caplog.text
    assert client.get("/api/v1/probe/boom").json()["code"] == "authentication_required"
