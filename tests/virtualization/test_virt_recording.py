"""Recording a query: its writes (query log, audit batch) go to the store in one pipelined
transaction on PostgreSQL, committed before the call returns (issue 11 speed); its lineage event and
usage right after, by the store's deferred writer, seen by every later read of the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from govfabric.auth.models import AuditEvent
from govfabric.catalog.usage import record_usage
from govfabric.governance.lineage.models import LineageEvent
from govfabric.virtualization.models import QueryLog


def _sent_while_recording(workspace: Any, record_with: Any = None) -> list[tuple[str, bool]]:
    """Record ``SELECT 1 AS one`` once: each statement's first word and whether it was pipelined
    (the COMMIT: sent in the pipeline, which has ended when the connection commits) or, alone, is
    its own transaction (autocommit: no BEGIN, no COMMIT)."""
    from sqlalchemy import event

    sent: list[tuple[str, bool]] = []

    def piped(conn: Any) -> bool:
        return bool(conn.connection.driver_connection.pgconn.pipeline_status)

    def statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        sent.append((sql.split()[0], piped(conn) or conn.connection.driver_connection.autocommit))

    def commit(conn: Any) -> None:
        raw = conn.connection.driver_connection
        sent.append(("COMMIT", raw.pgconn.transaction_status == 0 and not piped(conn)))

    service = workspace.queries
    cached = service._plan("SELECT 1 AS one", None, service._choose("SELECT 1 AS one", None, None))
    engine = workspace.store.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        service._record("duckdb", "SELECT 1 AS one", cached, "ok", None, 1, 0.0, record_with)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    return sent


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_recording_a_query_is_pipelined_with_its_commit(workspace) -> None:
    """The records are committed when the call returns, in one round trip: once this process wrote
    the audit head last and found it unmoved, the head is moved without reading it first, in one
    statement that is its own transaction (autocommit: no BEGIN or COMMIT to send)."""
    workspace.sql("SELECT 1 AS one")  # warm: plan cached, pool open, lineage template built
    with workspace.store.session() as s:
        before = s.scalar(select(func.count()).select_from(QueryLog))
    workspace.sql("SELECT 1 AS one")  # its locked read finds the head this process committed
    sent = _sent_while_recording(workspace)
    # one statement: the audit head moved from what this process committed (it fails the transaction if
    # another writer moved it), the audit events and the query log inserted in its data-modifying CTEs;
    # the lineage event and usage follow the answer in the deferred writer's transaction
    assert sent == [("WITH", True)], sent
    with workspace.store.engine.connect() as conn:  # committed: another transaction sees it
        assert conn.scalar(select(func.count()).select_from(QueryLog)) == before + 2
        assert conn.scalar(select(AuditEvent.action).order_by(AuditEvent.seq.desc()).limit(1)) == "sql.query"
    with workspace.store.session() as s:  # a session of this process sees the lineage event too
        q = select(func.count()).select_from(LineageEvent).where(LineageEvent.sql == "SELECT 1 AS one")
        assert s.scalar(q) == 3
    assert workspace.audit.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_caller_writing_its_own_statement_gets_a_transaction(workspace) -> None:
    """A caller's addition to the recording (``record_with``) that runs a statement of its own is not
    one statement with the rest: asked for the connection in the one-statement transaction it is
    refused before anything ran, and the recording runs as a (pipelined) transaction instead; both
    its row and the recording are committed, once."""
    from govfabric.store.prepared import Prepared

    insert = Prepared(QueryLog.__table__.insert())

    def record_with(s: Any, status: str, rows: int | None) -> list[Any]:
        insert.run(s, {"principal": "record_with", "engine": "duckdb", "sql_digest": "0" * 64, "tables": [],
                       "status": status, "error": None, "rows": rows, "duration_ms": 0.0})
        return [("tester", "test.record_with", "t", {"rows": rows})]

    for _ in range(2):
        workspace.sql("SELECT 1 AS one")
    with workspace.store.session() as s:
        before = s.scalar(select(func.count()).select_from(QueryLog))
    sent = _sent_while_recording(workspace, record_with)
    assert sent == [("INSERT", True), ("WITH", True), ("COMMIT", True)], sent
    with workspace.store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(QueryLog)) == before + 2
        assert conn.scalar(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "test.record_with")) == 1
    assert workspace.audit.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_recording_too_big_for_one_statement_moves_the_head_first(workspace, monkeypatch) -> None:
    """Beyond what one statement may bind, the recording is a transaction (pipelined) again: the
    unread move of the head is its own statement, still first (it takes the head's lock before any
    event is inserted), then the events and the query log row; all committed and chained as in one
    statement."""
    from govfabric.auth import audit

    for _ in range(2):
        workspace.sql("SELECT 1 AS one")
    with workspace.store.session() as s:
        before = s.scalar(select(func.count()).select_from(QueryLog))
    monkeypatch.setattr(audit, "_MAX_VALUES", 5)
    sent = _sent_while_recording(workspace)
    assert [k for k, _ in sent] == ["WITH", "INSERT", "INSERT", "COMMIT"], sent
    assert all(p for _, p in sent), sent
    with workspace.store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(QueryLog)) == before + 1
    monkeypatch.setattr(audit, "_MAX_VALUES", 30_000)
    assert _sent_while_recording(workspace) == [("WITH", True)]
    assert workspace.audit.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("checkpoint_moved", [True, False], ids=["checkpoint-moved", "checkpoint-lagging"])
def test_recording_after_another_writer_reads_the_head(workspace, tmp_path, checkpoint_moved: bool) -> None:
    """Another process (here: another store on the same workspace) appended since. When the signed
    checkpoint shows it, the recording reads the head at once; when it does not (that writer could not
    move it), the unread move of the head matches nothing, the transaction fails whole and runs again
    with the locked read. Nothing is lost or written twice, the chain verifies, and the next recordings
    read the head until a locked read finds it unmoved again."""
    from govfabric.auth.audit import binding_of
    from govfabric.fabric import connect

    for _ in range(2):
        workspace.sql("SELECT 1 AS one")
    other = connect(workspace.settings.home, "admin", store_url=workspace.store.url)
    try:
        if not checkpoint_moved:  # its checkpoint write fails (logged; the commit stands)
            binding_of(other.store).checkpoint_path = tmp_path / "missing" / "audit.head"
        other.audit.append("test.elsewhere", "t:1")
    finally:
        other.close()
    with workspace.store.session() as s:
        before = s.scalar(select(func.count()).select_from(QueryLog))
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    sent = [k for k, _ in _sent_while_recording(workspace)]
    read = ["INSERT", "SELECT", "INSERT", "UPDATE", "COMMIT"]
    assert sent == (read if checkpoint_moved else ["WITH", *read]), sent  # (no COMMIT: it failed)
    with workspace.store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(QueryLog)) == before + 1
        assert conn.scalar(select(func.count()).select_from(AuditEvent)) == events + 1
    # the locked read found the other process's head: read again next time; then unmoved: unread after
    assert [k for k, _ in _sent_while_recording(workspace)][:2] == ["INSERT", "SELECT"]
    assert _sent_while_recording(workspace) == [("WITH", True)]
    assert workspace.audit.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_recordings_and_other_appends_in_threads_keep_one_chain(workspace) -> None:
    """Queries recorded (head moved unread when this process holds it) while other threads append
    through sessions (locked read): every query and event is written once and the chain verifies."""
    from concurrent.futures import ThreadPoolExecutor

    from govfabric.auth.audit import append_many

    workspace.sql("SELECT 1 AS one")
    with workspace.store.session() as s:
        before = s.scalar(select(func.count()).select_from(QueryLog))

    def query(_: int) -> None:
        for _ in range(10):
            workspace.sql("SELECT 1 AS one")

    def other(i: int) -> None:
        for j in range(10):
            with workspace.store.session(pipelined=True) as s:
                append_many(s, [("t", "test.other", f"t:{i}", {"j": j})])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: (query if i % 2 else other)(i), range(8)))
    with workspace.store.session() as s:
        assert s.scalar(select(func.count()).select_from(QueryLog)) == before + 40
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.other")) == 40
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sql.query")) >= 41
    assert workspace.audit.verify().ok


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_pipelined_sessions_in_threads_share_the_pool_safely(workspace) -> None:
    """A connection goes back to the pool only once its pipeline has ended: committing inside the
    pipeline released it to another thread while this one still closed the pipeline ("connection
    not in pipeline mode" under load)."""
    from concurrent.futures import ThreadPoolExecutor

    from govfabric.auth.audit import append_many

    def work(i: int) -> None:
        for j in range(15):
            with workspace.store.session(pipelined=True) as s:
                append_many(s, [("t", "test.event", f"t:{i}", {"j": j})])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    with workspace.store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.event")) == 120
    assert workspace.audit.verify().ok


def test_usage_counts_accumulate(workspace) -> None:
    """The upsert adds to an existing row and creates a missing one, for each asset once."""
    from govfabric.catalog.models import Usage

    with workspace.store.session() as s:
        ids = _assets(workspace, s, 2)
        record_usage(s, [ids[0]], "analyst1")
    with workspace.store.session() as s:
        record_usage(s, [ids[0], ids[1], ids[0]], "analyst1")
    with workspace.store.session() as s:
        got = dict(s.execute(select(Usage.asset_id, Usage.count).where(Usage.principal == "analyst1")).all())
    assert got == {ids[0]: 2, ids[1]: 1}


def _assets(fabric: Any, s: Any, n: int) -> list[str]:
    from govfabric.catalog.models import Asset

    made = [Asset(name=f"t{i}", qualified_name=f"src.t{i}") for i in range(n)]
    s.add_all(made)
    s.flush()
    return [a.id for a in made]


@contextmanager
def _writing(rec: Any) -> Iterator[None]:
    """As if a group were being written meanwhile."""
    with rec._cv:
        rec._writing = True
    try:
        yield
    finally:
        with rec._cv:
            rec._writing = False
            rec._cv.notify_all()


def _queued(rec: Any, n: int) -> None:
    import time

    deadline = time.monotonic() + 60
    while len(rec._queue) < n:
        assert time.monotonic() < deadline, "the recordings never queued"
        time.sleep(0.01)


def test_concurrent_recordings_are_one_transaction_each_with_its_request(workspace) -> None:
    """Queries finishing while a recording is written are recorded together by the next writer:
    one COMMIT (one lock of the audit head) for all, each event with its own request id, committed
    before each call returns, and the chain verifies."""
    import threading

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from govfabric.auth.request_context import request_id
    from govfabric.virtualization.query import recorder

    workspace.sql("SELECT 1 AS one")  # warm
    n, commits = 8, [0]
    rec = recorder(workspace.store)

    def run(i: int) -> None:
        request_id.set(f"grp-{i}")  # this thread's own context
        workspace.sql("SELECT 1 AS one")

    def counted(_conn: Any) -> None:
        if threading.current_thread().name != "govfabric-later":  # (the lineage written after the answers)
            commits[0] += 1

    def alone(conn: Any, *_: Any) -> None:  # a statement that is its own transaction (autocommit)
        if getattr(conn.connection.driver_connection, "autocommit", None) is True:
            counted(conn)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    with _writing(rec):  # a group being written: the recordings queue behind it
        for t in threads:
            t.start()
        _queued(rec, n)
        event.listen(Engine, "commit", counted)
        event.listen(Engine, "before_cursor_execute", alone)
    for t in threads:
        t.join(60)
    event.remove(Engine, "commit", counted)
    event.remove(Engine, "before_cursor_execute", alone)
    assert commits[0] == 1  # was one transaction per query
    with workspace.store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "sql.query"))
        got = [e.details.get("request_id") for e in events]
    assert sorted(x for x in got if x) == sorted(f"grp-{i}" for i in range(n))
    assert workspace.audit.verify().ok


def test_a_failing_recording_does_not_lose_its_group(workspace) -> None:
    import threading

    from govfabric.virtualization.query import recorder

    rec = recorder(workspace.store)
    errors: dict[int, BaseException] = {}

    def write(i: int) -> Any:
        def w(_s: Any) -> tuple[list[Any], list[Any]]:
            if i == 2:
                raise ValueError("a bad recording")
            return [("tester", "test.recorded", f"t{i}", {"i": i})], []
        return w

    def run(i: int) -> None:
        try:
            rec.record(write(i))
        except BaseException as exc:  # what the caller sees
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
    with _writing(rec):
        for t in threads:
            t.start()
        _queued(rec, 5)
    for t in threads:
        t.join(60)
    assert list(errors) == [2] and isinstance(errors[2], ValueError)
    with workspace.store.session() as s:
        got = sorted(e.details["i"] for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "test.recorded")))
    assert got == [0, 1, 3, 4]
    assert workspace.audit.verify().ok


def test_append_many_writes_insert_rows_only(workspace) -> None:
    """``append_many``'s ``rows`` are INSERTs on every store and path (PostgreSQL may fold them into the
    head's statement): another statement is refused before anything is written."""
    from sqlalchemy import update

    from govfabric.auth.audit import append_many
    from govfabric.store.prepared import Prepared

    with workspace.store.session() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    touch = Prepared(update(QueryLog.__table__).values(rows=0))
    with pytest.raises(TypeError), workspace.store.session() as s:
        append_many(s, [("tester", "test.refused", "t", None)], [(touch, {})])
    with workspace.store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
