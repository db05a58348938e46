"""``api.call`` events of concurrent requests are written in groups (one transaction for those that
finish while another group is written), each committed before its request's middleware returns."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from govfabric.auth.models import AuditEvent


def test_concurrent_requests_share_audit_transactions(served: Any, app_client: TestClient) -> None:
    n = 24
    commits = [0]

    def counted(_conn: Any) -> None:
        commits[0] += 1

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app_client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            # refused before any store read: the only transactions are the audit's
            return await asyncio.gather(*[client.get("/api/v1/whoami", headers={
                "Authorization": "Basic x", "X-Request-ID": f"grp-{i}"}) for i in range(n)])

    event.listen(Engine, "commit", counted)
    try:
        answers = app_client.portal.call(burst)
    finally:
        event.remove(Engine, "commit", counted)
    assert [r.status_code for r in answers] == [401] * n
    assert 1 <= commits[0] < n // 2, commits[0]  # was one transaction per request
    with served.store.session() as s:
        got = [e.details["request_id"] for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "api.call"))]
    assert sorted(got) == sorted(f"grp-{i}" for i in range(n))  # every one, each once
    assert served.audit.verify().ok
