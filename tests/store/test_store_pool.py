"""The PostgreSQL store's pool recovers from connections the server closed (a restart,
``pg_terminate_backend``) without a ping round trip per checkout."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import text

from govfabric.store.db import Store


def _pids(store: Store, n: int) -> set[int]:
    """Backend pids of ``n`` pooled connections, all checked out at once, then returned to the pool."""
    conns = [store.engine.connect() for _ in range(n)]
    try:
        return {c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in conns}
    finally:
        for c in conns:
            c.close()


def _terminate(url: str, pids: set[int]) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # until the backends are gone
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchall():
                return
            time.sleep(0.05)


def test_terminated_pool_connections_are_replaced_on_the_next_call(pg_database: str) -> None:
    store = Store(pg_database)
    try:
        assert not store.engine.pool._pre_ping  # no round trip per checkout
        before = _pids(store, 3)
        _terminate(pg_database, before)
        with store.session() as s:  # the next call works, on a new backend
            assert s.scalar(text("SELECT pg_backend_pid()")) not in before
        after = _pids(store, 3)  # every pooled connection was replaced, none of them fails
        assert not after & before
        raw = store.engine.raw_connection()  # the raw path (the change counter's read) as well
        try:
            cur = raw.cursor()
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        finally:
            raw.close()
    finally:
        store.dispose()
