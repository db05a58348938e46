"""The fixed cost of one query (issue 15): what a warm query no longer does, with every record kept."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from govfabric.auth.models import AuditEvent
from govfabric.errors import QueryRejected
from govfabric.virtualization.models import QueryLog


def _counts(workspace: Any) -> tuple[int, int]:
    with workspace.store.session() as s:
        return (s.scalar(select(func.count()).select_from(QueryLog)),
                s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sql.query")))


def test_a_warm_query_is_recorded_without_an_orm_session(workspace) -> None:
    """The recording (query log, lineage event, audit event) is committed before the call returns,
    through ``Store.write_only``: no ORM session is begun for it."""
    from sqlalchemy import event

    workspace.sql("SELECT 1 AS one")  # warm: plan cached
    before = _counts(workspace)
    begun: list[Any] = []

    def seen(session: Any, _tx: Any, _conn: Any) -> None:
        begun.append(session)

    event.listen(workspace.store.session_factory, "after_begin", seen)
    try:
        workspace.sql("SELECT 1 AS one")
    finally:
        event.remove(workspace.store.session_factory, "after_begin", seen)
    assert begun == []
    assert _counts(workspace) == (before[0] + 1, before[1] + 1)
    assert workspace.audit.verify().ok


def test_a_cached_plan_sets_up_no_planning_limits(workspace, monkeypatch) -> None:
    import govfabric.virtualization.query as query

    workspace.sql("SELECT 2 AS two")
    entered: list[Any] = []
    real = query.limits

    def counted(*a: Any, **k: Any) -> Any:
        entered.append(a)
        return real(*a, **k)

    monkeypatch.setattr(query, "limits", counted)
    workspace.sql("SELECT 2 AS two")
    assert entered == []  # a hit plans nothing
    workspace.sql("SELECT 3 AS three")
    assert len(entered) == 1  # a miss plans under the limits and the deadline


def test_duckdb_cursors_are_reused_only_after_a_clean_end(workspace) -> None:
    """A query that ran to its end leaves its cursor for the next; one stopped early does not (its
    deadline could still fire, and its reader is not drained)."""
    workspace.sql("SELECT 1 AS one")
    eng = workspace.queries.engine("duckdb")
    assert len(eng._idle) == 1
    cur = eng._idle[0][1]
    workspace.sql("SELECT 4 AS four")
    assert [c for _, c in eng._idle] == [cur]  # the same cursor ran it
    values = ", ".join(f"({i})" for i in range(60))  # 216,000 rows: several batches
    stream = workspace.queries.stream(f"WITH t(x) AS (VALUES {values}) SELECT a.x FROM t AS a, t AS b, t AS c")
    next(stream)
    assert eng._idle == []  # taken by the running query
    stream.close()  # abandoned before its end
    assert eng._idle == []
    with pytest.raises(QueryRejected):
        workspace.sql("SELECT CAST('x' AS INTEGER) AS bad")
    assert eng._idle == []
    workspace.sql("SELECT 5 AS five")
    assert len(eng._idle) == 1 and eng._idle[0][1] is not cur
    eng.close()
    assert eng._idle == []
