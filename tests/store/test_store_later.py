"""A query's lineage event and usage count are written after its answer (``store/later.py``): the
process that ran it reads them right after it returns, another process once it closed, and nothing is
lost when many threads query at once."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import create_engine, func, select

from govfabric.catalog.models import Usage
from govfabric.governance.lineage.models import LineageEvent

QUERY = "SELECT name FROM market.enterprise LIMIT 1"


def _table(demo) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", renames={"qymc": "name"}, only=["qymc"])


def _counts(session) -> tuple[int, int]:
    events = session.scalar(select(func.count()).select_from(LineageEvent).where(LineageEvent.sql == QUERY))
    used = session.scalar(select(func.coalesce(func.sum(Usage.count), 0)).where(Usage.principal == "steward_mr"))
    return int(events or 0), int(used or 0)


def test_the_process_reads_its_queries_lineage_and_usage_right_after(demo) -> None:
    _table(demo)
    with demo.store.session() as s:
        events, used = _counts(s)
    for n in range(1, 4):
        demo.sql(QUERY)
        with demo.store.session() as s:  # no explicit flush: a new session waits for the deferred writes
            assert _counts(s) == (events + n, used + n)
    graph = demo.lineage.graph()  # the graph built after them holds the latest query's result
    assert any("/results/query/" in d for d in graph.datasets())


def test_nothing_is_lost_when_many_threads_query(demo) -> None:
    _table(demo)
    demo.sql(QUERY)  # warm: plan cached
    with demo.store.session() as s:
        events, used = _counts(s)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(10):
                demo.sql(QUERY)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    with demo.store.session() as s:
        assert _counts(s) == (events + 60, used + 60)
    assert demo.audit.verify().ok


def test_another_process_sees_them_once_the_fabric_is_closed(demo, tmp_path: Path) -> None:
    """A process that queries and closes leaves every lineage event and usage count committed (read
    here on a connection of our own, no flush of this process involved)."""
    _table(demo)
    url = str(demo.store.engine.url)
    demo.close()
    code = ("import sys\nfrom govfabric.fabric import connect\nf = connect(sys.argv[1], 'steward_mr')\n"
            f"for _ in range(5):\n    f.sql({QUERY!r})\nf.close()\n")
    with create_engine(url).connect() as conn:
        before = _counts(conn)
    subprocess.run([sys.executable, "-c", code, str(demo.settings.home)], check=True, timeout=300)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert _counts(conn) == (before[0] + 5, before[1] + 5)
    finally:
        engine.dispose()


def test_a_failing_deferred_write_loses_no_other(demo) -> None:
    """One bad write is retried alone and logged; the others of its batch are committed."""
    _table(demo)
    demo.sql(QUERY)
    with demo.store.session() as s:
        events, used = _counts(s)
    later_done = threading.Event()

    def bad(_tx) -> None:
        raise ValueError("a bad deferred write")

    demo.store.defer(bad)
    demo.sql(QUERY)
    demo.store.defer(lambda _tx: later_done.set())
    demo.store.flush_deferred()
    assert later_done.is_set()
    with demo.store.session() as s:
        assert _counts(s) == (events + 1, used + 1)


def test_a_batch_sends_each_statement_once_with_one_usage_row_per_asset(demo) -> None:
    """The deferred writer's transaction gathers rows (``store.db.gather``): nothing is sent until it
    flushes, then one ``executemany`` per statement; usage counts become one row per asset and
    principal, added up, in asset order (one lock order for concurrent writers)."""
    from sqlalchemy import event

    from govfabric.catalog.models import Asset
    from govfabric.catalog.usage import record_usage

    with demo.store.session() as s:
        assets = sorted(s.scalars(select(Asset.id).order_by(Asset.id).limit(2)))

    def count(session, asset: str) -> int:
        return int(session.scalar(select(func.coalesce(func.sum(Usage.count), 0))
                                  .where(Usage.asset_id == asset, Usage.principal == "gather_test")) or 0)

    sent: list[tuple[str, list[str]]] = []

    def statement(_conn, _cursor, sql: str, params, _context, many: bool) -> None:
        sent.append((sql.split()[0], [p["asset_id"] if isinstance(p, dict) else p[1] for p in params] if many
                     else ["one"]))

    event.listen(demo.store.engine, "before_cursor_execute", statement)
    try:
        with demo.store.write_only(gather=True) as tx:
            for _ in range(3):
                record_usage(tx, [assets[1]], "gather_test")
            record_usage(tx, list(reversed(assets)), "gather_test")
            assert sent == []  # gathered, not sent
    finally:
        event.remove(demo.store.engine, "before_cursor_execute", statement)
    assert sent == [("INSERT", assets)], sent
    with demo.store.session() as s:
        assert (count(s, assets[0]), count(s, assets[1])) == (1, 4)
    with demo.store.write_only() as tx:  # a transaction that does not gather writes at once
        record_usage(tx, [assets[0]], "gather_test")
    with demo.store.session() as s:
        assert count(s, assets[0]) == 2
