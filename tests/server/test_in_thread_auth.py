"""A signed query service call hops to a worker thread once: its signature and rate limit are
checked in the endpoint's thread (``middleware.IN_THREAD_AUTH``, ``deps.signed_fabric``), not in
a thread of their own first. Every check still holds there: bad signature, replay, disabled app,
rate limit — each refused before any query, answered with its code and audited with its reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govfabric.auth import apps
from govfabric.virtualization import cache
from tests.server.conftest import signed
from tests.server.test_audit_fold import _of, enterprise_plane
from tests.server.test_e2e import MR, REGION, Plane, _publish

URL = "http://testserver/api/v1/query/ent_lookup"


@pytest.fixture
def plane(demo_home: Path) -> Iterator[Plane]:
    with enterprise_plane(demo_home) as p:
        _publish(p.steward)
        yield p


@pytest.fixture
def hops(monkeypatch: Any) -> list[str]:
    """The functions sent to a worker thread (anyio's, which Starlette's sync endpoints use too)."""
    import anyio.to_thread

    seen: list[str] = []
    real = anyio.to_thread.run_sync

    async def spy(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", spy)
    return seen


def _uscc(plane: Plane) -> str:
    return plane.steward.sql("SELECT uscc FROM market.enterprise WHERE xzqh = '110105' LIMIT 1").column(0)[0].as_py()


def _get(plane: Plane, issued: apps.Issued, uscc: str, rid: str, **kw: Any) -> httpx.Response:
    request = signed(plane.http.build_request("GET", URL, params={"uscc": uscc}, headers={"X-Request-ID": rid}),
                     issued, **kw)
    return plane.http.send(request)


def test_a_signed_call_hops_to_a_thread_once_and_reads_the_counter_once(plane: Plane, hops: list[str],
                                                                       monkeypatch: Any) -> None:
    uscc = _uscc(plane)
    assert _get(plane, plane.gs, uscc, "warm").status_code == 200
    reads: list[int] = []
    real = cache._read_generation
    monkeypatch.setattr(cache, "_read_generation", lambda store: reads.append(1) or real(store))
    hops.clear()
    r = _get(plane, plane.gs, uscc, "hop-1")
    assert r.status_code == 200 and r.json()["rows"], r.text
    assert len(hops) == 1, hops  # was 2: the signature check, then the endpoint
    assert len(reads) == 1  # the credential's check and the query share the change counter's read
    call = next(e for e in _of(plane, "hop-1") if e.action == "api.call")
    assert call.actor == "gs_system" and call.details["status"] == 200


def test_refusals_in_the_endpoints_thread_are_answered_and_audited(plane: Plane) -> None:
    uscc = _uscc(plane)
    forged = dataclasses.replace(plane.gs, secret="x" * len(plane.gs.secret))
    r = _get(plane, forged, uscc, "bad-1")
    assert r.status_code == 401 and r.json()["request_id"] == "bad-1", r.text
    request = signed(plane.http.build_request("GET", URL, params={"uscc": uscc}), plane.gs)
    assert plane.http.send(request).status_code == 200
    replay = plane.http.send(request)  # the same nonce again
    assert replay.status_code == 401 and replay.json()["code"] == "nonce_replayed"
    apps.set_active(plane.admin, "gs_system", False)
    r = _get(plane, plane.gs, uscc, "off-1")
    assert r.status_code == 401 and r.json()["code"] == "app_disabled"
    for rid, reason in (("bad-1", None), ("off-1", "app_disabled")):
        got = _of(plane, rid)
        assert [e.action for e in got] == ["api.call"]  # refused before any query
        assert got[0].actor == "anonymous" and got[0].details["status"] == 401
        assert reason is None or got[0].details["reason"] == reason
    assert plane.admin.audit.verify().ok


def test_the_rate_limit_holds_in_the_endpoints_thread(plane: Plane) -> None:
    limited = apps.add(plane.admin, "limited_system", department=MR, rate_limit="2/minute")
    plane.steward.access.grant("limited_system", "market.enterprise", row_filter=REGION)
    uscc = _uscc(plane)
    answers = [_get(plane, limited, uscc, f"rl-{i}") for i in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429], answers[-1].text
    assert answers[-1].json()["code"] == "rate_limited" and answers[-1].headers.get("retry-after")
    got = _of(plane, "rl-2")
    assert [e.action for e in got] == ["api.call"]  # refused before any query
    assert got[0].actor == "limited_system" and got[0].details["reason"] == "rate_limited"


def test_a_call_refused_before_its_endpoint_still_names_and_limits_the_caller(plane: Plane) -> None:
    request = signed(plane.http.build_request("GET", URL, params={"uscc": "x", "page_size": "0"},
                                              headers={"X-Request-ID": "early-1"}), plane.gs)
    assert plane.http.send(request).status_code == 422  # parameter validation, before the endpoint
    got = [e for e in _of(plane, "early-1") if e.action == "api.call"]
    assert len(got) == 1 and got[0].actor == "gs_system" and got[0].details["status"] == 422
    assert plane.http.send(request).status_code == 422  # the same nonce: refused, though answered 422
    again = [e for e in _of(plane, "early-1") if e.action == "api.call"][-1]
    assert again.actor == "anonymous" and again.details["reason"] == "nonce_replayed"
