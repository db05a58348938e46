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


def _bearer_get(plane: Plane, token: str, url: str, rid: str, **params: Any) -> httpx.Response:
    return plane.http.get(url, params=params, headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid})


def test_a_bearer_token_call_hops_once_and_every_token_check_holds(plane: Plane, hops: list[str]) -> None:
    from govfabric.auth import tokens

    token, info = tokens.create(plane.admin.as_user("gs_system"), name="bench", expires=None)
    uscc = _uscc(plane)
    assert _bearer_get(plane, token, URL, "tok-warm", uscc=uscc).status_code == 200
    hops.clear()
    r = _bearer_get(plane, token, URL, "tok-1", uscc=uscc)
    assert r.status_code == 200 and r.json()["rows"], r.text
    assert len(hops) == 1, hops  # was 2: the token's check, then the endpoint
    call = next(e for e in _of(plane, "tok-1") if e.action == "api.call")
    assert call.actor == "gs_system" and call.details["status"] == 200
    bad = _bearer_get(plane, "gft_" + "x" * 40, URL, "tok-bad", uscc=uscc)
    malformed = plane.http.get(URL, params={"uscc": uscc}, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    tokens.revoke(plane.admin, info.id)
    revoked = _bearer_get(plane, token, URL, "tok-rev", uscc=uscc)
    assert [x.status_code for x in (bad, malformed, revoked)] == [401, 401, 401], (bad.text, malformed.text)
    assert malformed.json()["code"] == "token_invalid"
    for rid in ("tok-bad", "tok-rev"):
        got = _of(plane, rid)
        assert [e.action for e in got] == ["api.call"]  # refused before any query
        assert got[0].actor == "anonymous" and got[0].details["status"] == 401 and got[0].details["reason"]
    assert plane.http.get(URL, params={"uscc": uscc}).status_code == 401  # no credentials: never anonymous data


def test_a_subscription_pull_hops_once(plane: Plane, hops: list[str]) -> None:
    from govfabric.auth import tokens

    with plane.client(plane.gs) as c:
        body = {"table": "market.enterprise", "columns": ["name", "district"], "key": ["uscc"],
                "filter": "district = '朝阳区'", "purpose": "企业信息同步"}
        sub = c.post("/api/v1/subscriptions", json=body)["subscription"]
    plane.steward.subscriptions.approve(sub["id"])
    plane.steward.subscriptions.run(sub["id"])
    url = f"http://testserver/api/v1/subscriptions/{sub['id']}/changes"
    hops.clear()
    request = signed(plane.http.build_request("GET", url, params={"since": 0}, headers={"X-Request-ID": "pull-1"}),
                     plane.gs)
    r = plane.http.send(request)
    assert r.status_code == 200 and r.json()["changes"], r.text
    assert len(hops) == 1, hops  # was 3: the signature's check, the endpoint, the response's validation
    pull = [e for e in plane.events("subscription.pull") if e.details.get("request_id") == "pull-1"]
    call = [e for e in plane.events("api.call") if e.details.get("request_id") == "pull-1"]
    assert len(pull) == len(call) == 1 and call[0].seq == pull[0].seq + 1  # one audit transaction
    assert call[0].actor == "gs_system" and call[0].details["status"] == 200
    assert plane.http.send(request).json()["code"] == "nonce_replayed"  # the same nonce again
    token, _ = tokens.create(plane.admin.as_user("gs_system"), expires=None)
    hops.clear()
    assert _bearer_get(plane, token, url, "pull-2", since=0).status_code == 200
    assert len(hops) == 1, hops
    other, _ = tokens.create(plane.admin.as_user("other_system"), expires=None)  # not the subscriber
    assert _bearer_get(plane, other, url, "pull-3", since=0).status_code in (403, 404)


def test_a_download_is_one_audit_transaction_without_a_stat_hop(plane: Plane, hops: list[str]) -> None:
    plane.steward.datasets.publish("market.enterprise", ["csv"])
    with plane.client(plane.gs) as c:
        link = c.post("/api/v1/datasets/market.enterprise/links", json={"format": "csv", "expires": "1h"})
    assert plane.http.get(link["url"]).status_code == 200  # the file written once
    hops.clear()
    part = plane.http.get(link["url"], headers={"Range": "bytes=0-9", "X-Request-ID": "dl-1"})
    assert part.status_code == 206 and len(part.content) == 10
    assert not [h for h in hops if "stat" in h], hops
    got = [e for a in ("dataset.download", "api.call") for e in plane.events(a)
           if e.details.get("request_id") == "dl-1"]
    assert [e.action for e in got] == ["dataset.download", "api.call"] and got[1].seq == got[0].seq + 1
    assert got[1].details["status"] == 206 and "recorded_status" not in got[1].details
    whole = plane.http.get(link["url"], headers={"X-Request-ID": "dl-2"})
    call = [e for e in plane.events("api.call") if e.details.get("request_id") == "dl-2"]
    assert whole.status_code == 200 and len(call) == 1 and call[0].details["status"] == 200
    tampered = plane.http.get(link["url"].replace("consumer=gs_system", "consumer=analyst1"))
    assert tampered.status_code == 401
    assert plane.admin.audit.verify().ok


def test_every_in_thread_route_exists_and_checks_its_caller_itself(plane: Plane) -> None:
    """A route in ``IN_THREAD_AUTH`` gets no principal from the middleware: an endpoint asking for
    ``current_fabric`` would refuse every caller, one not calling ``signed_fabric`` would skip the check."""
    import inspect

    from govfabric.server.deps import current_fabric
    from govfabric.server.middleware import IN_THREAD_AUTH

    def flat(routes: Any) -> Iterator[Any]:  # included routers nest (FastAPI >= 0.165: ``original_router``)
        for r in routes:
            inner = getattr(r, "original_router", None)
            yield from flat(inner.routes) if inner is not None and getattr(r, "path", None) is None else (r,)

    routes = {(m, r.path): r for r in flat(plane.http.app.router.routes) for m in getattr(r, "methods", ()) or ()}
    for key in IN_THREAD_AUTH:
        route = routes[key]
        assert not inspect.iscoroutinefunction(route.endpoint), key  # run in the worker thread it checks in
        assert "signed_fabric(request)" in inspect.getsource(route.endpoint), key
        deps = [d.call for d in route.dependant.dependencies]
        assert current_fabric not in deps, key


def test_a_checked_token_is_kept_until_revoked_expired_or_its_principal_disabled(plane: Plane, monkeypatch: Any
                                                                                ) -> None:
    from datetime import timedelta

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from govfabric.auth import tokens

    reads: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "auth_tokens" in statement.lower():
            reads.append(statement)

    uscc = _uscc(plane)
    token, info = tokens.create(plane.admin.as_user("gs_system"), expires=None)
    short, _ = tokens.create(plane.admin.as_user("gs_system"), expires=timedelta(seconds=30))
    event.listen(Engine, "before_cursor_execute", spy)
    try:
        assert _bearer_get(plane, token, URL, "kept-1", uscc=uscc).status_code == 200
        assert _bearer_get(plane, short, URL, "kept-2", uscc=uscc).status_code == 200
        reads.clear()
        assert _bearer_get(plane, token, URL, "kept-3", uscc=uscc).status_code == 200
        assert reads == []  # was one query of the tokens table per call
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    import govfabric.store.base as base

    real = base.utcnow
    monkeypatch.setattr(base, "utcnow", lambda: real() + timedelta(seconds=60))  # the short token expired
    late = _bearer_get(plane, short, URL, "kept-4", uscc=uscc)
    assert late.status_code == 401 and late.json()["code"] == "token_expired"
    monkeypatch.setattr(base, "utcnow", real)
    tokens.revoke(plane.admin, info.id)
    assert _bearer_get(plane, token, URL, "kept-5", uscc=uscc).json()["code"] == "token_revoked"
    again, _ = tokens.create(plane.admin.as_user("gs_system"), expires=None)
    assert _bearer_get(plane, again, URL, "kept-6", uscc=uscc).status_code == 200
    from govfabric.auth import principals

    with plane.admin.store.session() as s:
        principals.set_active(s, plane.admin.actor.name, "gs_system", False)
    off = _bearer_get(plane, again, URL, "kept-7", uscc=uscc)
    assert off.status_code == 401 and off.json()["code"] == "principal_disabled"


def test_a_disabled_app_is_refused_with_a_token_too(plane: Plane) -> None:
    """`app disable` stops the app, whichever credential it presents: a bearer token an operator made
    for its principal (`govfabric --as gs_system token create`) included, kept in the cache or not."""
    from govfabric.auth import tokens

    uscc = _uscc(plane)
    token, _ = tokens.create(plane.admin.as_user("gs_system"), expires=None)
    assert _bearer_get(plane, token, URL, "app-on", uscc=uscc).status_code == 200  # checked and kept
    apps.set_active(plane.admin, "gs_system", False)
    off = _bearer_get(plane, token, URL, "app-off", uscc=uscc)
    assert off.status_code == 401 and off.json()["code"] == "app_disabled", off.text
    assert [e.action for e in _of(plane, "app-off")] == ["api.call"]  # refused before any query
    apps.set_active(plane.admin, "gs_system", True)
    assert _bearer_get(plane, token, URL, "app-on-again", uscc=uscc).status_code == 200
