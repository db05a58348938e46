"""One signed request reads the store's change counter once (credential, principal, policy share
it, ``Store.call_scope``), and the next request reads it afresh."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from govfabric.auth import apps
from govfabric.virtualization import cache
from tests.server.conftest import signed

URL = "http://testserver/api/v1/whoami"


def test_a_signed_request_reads_the_change_counter_once(served: Any, app_client: TestClient,
                                                       gs_app: apps.Issued, monkeypatch: Any) -> None:
    assert app_client.send(signed(app_client.build_request("GET", URL), gs_app)).status_code == 200
    reads = []
    real = cache._read_generation
    monkeypatch.setattr(cache, "_read_generation", lambda store: reads.append(1) or real(store))
    assert app_client.send(signed(app_client.build_request("GET", URL), gs_app)).status_code == 200
    assert len(reads) == 1
    apps.set_active(served, "gs_system", False)  # seen by the next request
    r = app_client.send(signed(app_client.build_request("GET", URL), gs_app))
    assert r.status_code == 401 and len(reads) == 2
