"""``recorded_together``: the records of several queries written in one transaction, the caller's
own when it asks (a prefill run: its reads, licence read and call record in one commit) — each
query still recorded exactly once, however the block ends (issue 13's benchmark goal)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select

from govfabric.auth.models import AuditEvent
from govfabric.virtualization.models import QueryLog
from govfabric.virtualization.query import recorded_together

SQL = "SELECT 1 AS one"


def _logged(ws: Any) -> int:
    with ws.store.session() as s:
        return s.scalar(select(func.count()).select_from(QueryLog))


def _queries(ws: Any) -> int:
    with ws.store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sql.query"))


def test_records_join_the_callers_transaction(workspace) -> None:
    workspace.sql(SQL)  # warm
    before, commits = _logged(workspace), []
    listener = lambda _c: commits.append(1)  # noqa: E731
    event.listen(workspace.store.engine, "commit", listener)
    try:
        with recorded_together(workspace.queries) as record:
            workspace.sql(SQL)
            workspace.sql(SQL)
            assert _logged(workspace) == before  # held back
            n = len(commits)
            with workspace.store.session():
                record()
                workspace.audit.append("test.call", "call:1")
            assert len(commits) == n + 1  # both records and the caller's event: one commit
    finally:
        event.remove(workspace.store.engine, "commit", listener)
    assert _logged(workspace) == before + 2
    assert workspace.audit.verify().ok


def test_a_failing_block_still_records_its_queries(workspace) -> None:
    workspace.sql(SQL)
    before, events = _logged(workspace), _queries(workspace)
    with pytest.raises(RuntimeError), recorded_together(workspace.queries):
        workspace.sql(SQL)
        raise RuntimeError("the caller failed after reading")
    assert _logged(workspace) == before + 1 and _queries(workspace) == events + 1


def test_records_rolled_back_with_the_caller_are_written_again(workspace) -> None:
    workspace.sql(SQL)
    before, events = _logged(workspace), _queries(workspace)
    with pytest.raises(RuntimeError), recorded_together(workspace.queries) as record:
        workspace.sql(SQL)
        with workspace.store.session():
            record()
            raise RuntimeError("the caller's transaction fails")
    assert _logged(workspace) == before + 1 and _queries(workspace) == events + 1  # once: not lost, not twice
    assert workspace.audit.verify().ok


def test_other_threads_queries_are_recorded_as_usual(workspace) -> None:
    workspace.sql(SQL)
    before = _logged(workspace)
    with recorded_together(workspace.queries):
        t = threading.Thread(target=workspace.sql, args=(SQL,))
        t.start()
        t.join()
        assert _logged(workspace) == before + 1  # the other thread's query: not held back by this block
        workspace.sql(SQL)
        assert _logged(workspace) == before + 1
    assert _logged(workspace) == before + 2
