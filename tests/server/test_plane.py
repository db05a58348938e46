"""What every request gets from the server: a request id (echoed, and in the audit event), one
``api.call`` audit event with parameter names only, metrics, probes, rate limits and quotas (in
memory and on a real Redis), and a clean JSON error for everything."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from govfabric.auth import apps, tokens
from govfabric.auth.models import AuditEvent
from tests.infra.services import require_redis_url
from tests.server.conftest import signed


def events(fabric: Any, action: str) -> list[AuditEvent]:
    with fabric.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def test_request_id_is_echoed_and_in_the_audit_event(served: Any, app_client: TestClient,
                                                       gs_app: apps.Issued) -> None:
    r = app_client.send(signed(app_client.build_request(
        "GET", "/api/v1/whoami?uscc=91350102SECRETVALUE&district=350102",
        headers={"X-Request-ID": "req-42.a"}), gs_app))
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-42.a"
    call = events(served, "api.call")[-1]
    assert call.actor == "gs_system" and call.target == "api:/api/v1/whoami"
    assert call.details["request_id"] == "req-42.a"
    assert call.details["params"] == ["district", "uscc"] and call.details["status"] == 200
    assert "SECRETVALUE" not in str(call.details) and "350102" not in str(call.details)
    # a malformed request id is replaced, never echoed
    r = app_client.get("/healthz", headers={"X-Request-ID": "bad id\u202e".encode()})
    assert len(r.headers["x-request-id"]) == 32 and " " not in r.headers["x-request-id"]


def test_audit_events_written_during_a_request_carry_its_id(served: Any, app_client: TestClient) -> None:
    from govfabric.auth.request_context import request_id

    reset = request_id.set("rid-in-context")
    try:
        apps.add(served, "ctx_system", department="市场监管局")
    finally:
        request_id.reset(reset)
    assert events(served, "app.add")[-1].details["request_id"] == "rid-in-context"
    apps.add(served, "plain_system", department="市场监管局")
    assert "request_id" not in events(served, "app.add")[-1].details


def test_refused_calls_are_audited_with_their_reason(served: Any, app_client: TestClient) -> None:
    r = app_client.get("/api/v1/whoami", headers={"Authorization": "Bearer gft_nope"})
    assert r.status_code == 401 and r.json()["code"] == "token_invalid"
    call = events(served, "api.call")[-1]
    assert call.actor == "anonymous" and call.details["reason"] == "token_invalid"
    assert call.details["status"] == 401


def test_tokens_good_revoked_expired(served: Any, app_client: TestClient) -> None:
    import datetime

    analyst = served.as_user("analyst1")
    token, info = tokens.create(analyst, name="laptop")
    r = app_client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["name"] == "analyst1" and r.json()["kind"] == "person"
    tokens.revoke(analyst, info.id)
    r = app_client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
    short, _ = tokens.create(analyst, expires=datetime.timedelta(microseconds=1))
    r = app_client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {short}"})
    assert r.status_code == 401 and r.json()["code"] == "token_expired"
    r = app_client.get("/api/v1/whoami", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.json()["code"] == "token_invalid"
    # the store holds a keyed digest, never the token
    assert token not in str(tokens.list_tokens(analyst))


def test_another_principals_token_cannot_be_revoked(served: Any) -> None:
    from govfabric.errors import AccessDenied

    _, info = tokens.create(served.as_user("analyst1"))
    with pytest.raises(AccessDenied):
        tokens.revoke(served.as_user("steward1"), info.id)


def test_probes_and_metrics(app_client: TestClient, gs_app: apps.Issued) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok"}
    ready = app_client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"store": "ok", "engine:duckdb": "ok"}
    app_client.send(signed(app_client.build_request("GET", "/api/v1/whoami"), gs_app))
    app_client.get("/api/v1/whoami")
    text = app_client.get("/metrics").text
    assert 'govfabric_api_calls_total{method="GET",service="/api/v1/whoami",status="200"} 1.0' in text
    assert 'govfabric_api_errors_total{code="authentication_required",service="/api/v1/whoami"} 1.0' in text
    assert "govfabric_api_latency_seconds_bucket" in text


def test_readyz_is_503_when_the_store_is_gone(tmp_path: Any, make_app: Any) -> None:
    client = make_app(store_url=f"sqlite:///{tmp_path}/missing-dir/none.db")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def _hammer(client: TestClient, issued: apps.Issued, n: int) -> list[Any]:
    return [client.send(signed(client.build_request("GET", "/api/v1/whoami"), issued)) for _ in range(n)]


def test_rate_limit_in_memory(served: Any, make_app: Any, gs_app: apps.Issued) -> None:
    client = make_app(rate_limit="3/minute")
    answers = _hammer(client, gs_app, 4)
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["code"] == "rate_limited" and 1 <= int(refused.headers["retry-after"]) <= 60
    # per app: another app is not affected
    other = apps.add(served, "other_system", department="市场监管局")
    assert _hammer(client, other, 1)[0].status_code == 200


def test_an_apps_own_daily_quota(served: Any, make_app: Any) -> None:
    issued = apps.add(served, "quota_system", department="市场监管局", daily_quota="2/day")
    client = make_app()
    assert [r.status_code for r in _hammer(client, issued, 3)] == [200, 200, 429]


def test_rate_limit_and_nonces_on_real_redis(served: Any, make_app: Any) -> None:
    url = require_redis_url()
    gs_app = apps.add(served, f"redis_{uuid.uuid4().hex[:8]}", department="市场监管局")  # Redis outlives tests
    client = make_app(rate_limit="2/minute", redis_url=url)
    assert client.get("/readyz").json()["checks"]["redis"] == "ok"
    request = signed(client.build_request("GET", "/api/v1/whoami"), gs_app, nonce=uuid.uuid4().hex)
    first = client.send(request)
    assert first.status_code == 200
    # a second server process sharing the Redis sees the nonce and the count
    second = make_app(rate_limit="2/minute", redis_url=url)
    assert second.send(request).json()["code"] == "nonce_replayed"
    answers = _hammer(second, gs_app, 2)
    assert [r.status_code for r in answers] == [200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
