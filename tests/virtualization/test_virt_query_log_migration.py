"""Migration 9d4c2f7a1b36: the query log loses the two indexes no query reads; its downgrade restores them."""

from __future__ import annotations

from functools import partial

import pytest
import sqlalchemy as sa
from alembic import command
from infra.alembic_run import run_alembic

from govfabric.store import Store

DROPPED = {"ix_virt_query_log_principal", "ix_virt_query_log_at"}


def _indexes(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {ix["name"] for ix in sa.inspect(conn).get_indexes("virt_query_log")}


@pytest.mark.parametrize("store_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_query_log_indexes_dropped_and_restored_by_the_downgrade(store_url: str) -> None:
    store = Store(store_url)
    migrate = partial(run_alembic, store)

    assert not (_indexes(store) & DROPPED)  # a migrated store has neither
    with store.engine.begin() as conn:
        log = sa.Table("virt_query_log", sa.MetaData(), autoload_with=conn)
        conn.execute(log.insert().values(principal="admin", engine="duckdb", sql_digest="0" * 64, tables=[],
                                         status="ok", rows=1, duration_ms=0.5, at=sa.func.now()))
    migrate(command.downgrade, "5b7e2d9c4a61")
    assert _indexes(store) >= DROPPED
    with store.engine.connect() as conn:  # the rows stay; the restored index answers
        assert conn.scalar(sa.text("SELECT count(*) FROM virt_query_log WHERE principal = 'admin'")) == 1
    migrate(command.upgrade, "9d4c2f7a1b36")
    assert not (_indexes(store) & DROPPED)
    store.dispose()
