"""``Store.write_only``: a transaction without an ORM session, for recording queries (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from govfabric.auth.audit import append_many, binding_of
from govfabric.auth.models import AuditEvent
from govfabric.store.db import on_commit


def _events(workspace: Any, action: str) -> int:
    with workspace.store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_write_only_commits_runs_its_commit_work_and_moves_the_checkpoint(workspace) -> None:
    done: list[str] = []
    with workspace.store.write_only() as tx:
        append_many(tx, [("tester", "test.write_only", "t", {"n": 1})])
        on_commit(tx, lambda: done.append("committed"))
        tx.connection().execute(text("UPDATE virt_generation SET n = n WHERE id = 1"))  # Core joins it
        assert done == []
    assert done == ["committed"]
    assert _events(workspace, "test.write_only") == 1
    cp = binding_of(workspace.store).read_checkpoint()
    with workspace.store.session() as s:
        assert cp is not None and cp.seq == s.scalar(select(func.max(AuditEvent.seq)))
    assert workspace.audit.verify().ok


def test_write_only_rolls_back_everything_on_error(workspace) -> None:
    before = binding_of(workspace.store).read_checkpoint()
    done: list[str] = []
    with pytest.raises(RuntimeError), workspace.store.write_only() as tx:
        append_many(tx, [("tester", "test.write_only", "t", {"n": 1})])
        on_commit(tx, lambda: done.append("committed"))
        raise RuntimeError("boom")
    assert done == [] and _events(workspace, "test.write_only") == 0
    assert binding_of(workspace.store).read_checkpoint() == before
    with workspace.store.write_only() as tx:  # the connection went back clean: the next one works
        append_many(tx, [("tester", "test.write_only", "t", {"n": 2})])
    assert _events(workspace, "test.write_only") == 1
    assert workspace.audit.verify().ok


@pytest.mark.parametrize("store_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_single_statement_write_is_its_own_transaction(workspace) -> None:
    """``single`` on PostgreSQL: the block's one statement runs in autocommit (committed as it runs,
    no BEGIN or COMMIT); anything else asking for the connection is refused before it runs, so the
    caller can run the block again as a transaction. Elsewhere ``single`` changes nothing."""
    from govfabric.store.db import NeedsTransaction
    from govfabric.store.prepared import Prepared
    from govfabric.virtualization.models import QueryLog

    insert = Prepared(QueryLog.__table__.insert())
    row = {"principal": "tester", "engine": "duckdb", "sql_digest": "0" * 64, "tables": [], "status": "ok",
           "error": None, "rows": 0, "duration_ms": 0.1}

    def logged() -> int:
        with workspace.store.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(QueryLog).where(QueryLog.principal == "tester")))

    pg = workspace.store.dialect == "postgresql"
    with workspace.store.write_only(single=True) as tx:
        assert tx.single is pg
        if pg:
            with pytest.raises(NeedsTransaction):
                tx.connection()
            insert.run(tx, row, sole=True)
            assert logged() == 1  # committed already: another connection sees it inside the block
            with pytest.raises(RuntimeError):
                tx.sole()
        else:
            insert.run(tx, row)
    assert logged() == 1
    if pg:  # a failed statement leaves the pooled connection clean (no transaction to roll back)
        import psycopg

        with pytest.raises(psycopg.errors.NotNullViolation), workspace.store.write_only(single=True) as tx:
            insert.run(tx, {**row, "status": None}, sole=True)  # NOT NULL
        with workspace.store.write_only() as tx:
            insert.run(tx, row)
        assert logged() == 2
