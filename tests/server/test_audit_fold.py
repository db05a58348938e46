"""One audit transaction per answered query service call: the middleware's ``api.call`` event is
appended by the transaction recording the call's query, with the query's and the call's own events
(one lock of the chain's head instead of two). Calls that run no query to its end keep the
middleware's own write, and a response failing after the fold is audited with its real status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from govfabric.errors import AccessDenied, GovfabricError, ValidationFailed
from tests.server.test_e2e import ENTERPRISE, REGION, Plane, _publish


@contextmanager
def enterprise_plane(demo_home: Path) -> Iterator[Plane]:
    """The served demo workspace of ``test_e2e`` (its fixture, not importable without shadowing):
    ``market.enterprise`` granted to ``gs_system`` for one region."""
    from govfabric.fabric import connect

    admin = connect(demo_home)
    p = Plane(admin)
    p.steward.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    p.steward.access.grant("gs_system", "market.enterprise", row_filter=REGION)
    try:
        yield p
    finally:
        p.http.__exit__(None, None, None)
        admin.close()


@pytest.fixture
def plane(demo_home: Path) -> Iterator[Plane]:
    with enterprise_plane(demo_home) as p:
        yield p


@pytest.fixture
def head_writes() -> Iterator[list[str]]:
    """The statements moving the audit chain's head (one per audit transaction)."""
    seen: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE AUTH_AUDIT_HEAD"):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    yield seen
    event.remove(Engine, "before_cursor_execute", spy)


def _of(plane: Plane, rid: str) -> list[Any]:
    return [e for a in ("sql.query", "sql.denied", "sql.error", "query_api.call", "api.call")
            for e in plane.events(a) if e.details.get("request_id") == rid]


def test_answered_call_is_one_audit_transaction(plane: Plane, head_writes: list[str]) -> None:
    _publish(plane.steward)
    uscc = plane.steward.sql("SELECT uscc FROM market.enterprise WHERE xzqh = '110105' LIMIT 1").column(0)[0].as_py()
    with plane.client(plane.gs) as c:
        c.query("ent_lookup", uscc=uscc)  # warm: plan and lineage consumer recorded once
        head_writes.clear()
        c.request("GET", "/api/v1/query/ent_lookup", params={"uscc": uscc}, headers={"X-Request-ID": "fold-1"})
    assert len(head_writes) == 1  # was 2: the query's recording, then the middleware's api.call
    got = sorted(_of(plane, "fold-1"), key=lambda e: e.seq)
    assert [e.action for e in got] == ["sql.query", "query_api.call", "api.call"]
    assert [e.seq for e in got] == list(range(got[0].seq, got[0].seq + 3)) and len({e.at for e in got}) == 1
    call = got[-1]
    assert call.actor == "gs_system" and call.details["status"] == 200 and call.details["params"] == ["uscc"]
    assert uscc not in str(call.details) and "recorded_status" not in call.details
    assert plane.admin.audit.verify().ok


def test_failing_calls_still_audit_the_request(plane: Plane) -> None:
    _publish(plane.steward)
    uscc = plane.steward.sql("SELECT uscc FROM market.enterprise LIMIT 1").column(0)[0].as_py()
    with plane.client(plane.stranger) as c:
        with pytest.raises(AccessDenied):  # no grant: the query is denied
            c.request("GET", "/api/v1/query/ent_lookup", params={"uscc": uscc}, headers={"X-Request-ID": "fold-2"})
        with pytest.raises(ValidationFailed):  # no query at all
            c.request("GET", "/api/v1/query/ent_lookup", params={"nope": "1"}, headers={"X-Request-ID": "fold-3"})
    denied = _of(plane, "fold-2")
    assert [e.action for e in denied if e.action == "api.call"] == ["api.call"]
    assert next(e for e in denied if e.action == "api.call").details["status"] == 403
    assert {e.action for e in denied} >= {"sql.denied", "query_api.call"}
    bad = [e for e in _of(plane, "fold-3") if e.action == "api.call"]
    assert len(bad) == 1 and bad[0].details["status"] == 422
    assert plane.admin.audit.verify().ok


def test_response_failing_after_the_fold_is_audited_with_its_status(plane: Plane, monkeypatch: Any) -> None:
    from govfabric.sharing_modes.query_api import router

    _publish(plane.steward)
    uscc = plane.steward.sql("SELECT uscc FROM market.enterprise WHERE xzqh = '110105' LIMIT 1").column(0)[0].as_py()

    def broken(*_a: Any) -> Any:
        raise RuntimeError("serialisation bug")

    monkeypatch.setattr(router, "_page_json", broken)
    with plane.client(plane.gs) as c, pytest.raises(GovfabricError):
        c.request("GET", "/api/v1/query/ent_lookup", params={"uscc": uscc}, headers={"X-Request-ID": "fold-4"})
    calls = sorted((e for e in _of(plane, "fold-4") if e.action == "api.call"), key=lambda e: e.seq)
    assert [c.details["status"] for c in calls] == [200, 500]  # written with the query, then the truth
    assert calls[1].details["recorded_status"] == 200 and calls[1].details["reason"] == "internal_error"
    assert plane.admin.audit.verify().ok
