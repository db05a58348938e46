"""``bulk_insert`` (COPY on PostgreSQL, one compiled executemany on SQLite) stores exactly what
Core's ``insert()`` stores: JSON, arrays, booleans, UTC timestamps, awkward text, NULLs, defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from govfabric.store.base import UTCDateTime, utcnow
from govfabric.store.bulk import bulk_insert, bulk_load

AWKWARD = ["", "plain", "tab\there", "new\nline", "back\\slash", 'quote"d', "comma,brace{}", "NULL", "null",
           "统一社会信用代码", "\\N", " spaced ", "\U0001f600", "'single'", "\r\n"]


def _tables(name: str) -> Table:
    md = MetaData()
    return Table(name, md,
                 Column("id", String(32), primary_key=True),
                 Column("text", Text), Column("n", Integer), Column("flag", Boolean),
                 Column("doc", JSON), Column("at", UTCDateTime()),
                 Column("words", Text().with_variant(ARRAY(Text), "postgresql")),
                 Column("made", UTCDateTime(), default=utcnow), Column("kind", String(8), default="x"))


def _rows(pg: bool) -> list[dict]:
    shared: list = []  # one object in many rows: converted once
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=8)))
    out = []
    for i, s in enumerate(AWKWARD):
        out.append({"id": f"r{i:02d}", "text": s if i % 5 else None, "n": i - 7 if i % 4 else None,
                    "flag": [True, False, None][i % 3],
                    "doc": [{"k": s, "nested": {"a": [1, 2.5, None, True]}}, shared, None, {"中文": s}][i % 4],
                    "at": at + timedelta(seconds=i) if i % 3 else None,
                    "words": (AWKWARD[: i + 1] if i % 2 else []) if pg else None})
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'bulk.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield eng
    eng.dispose()


def test_bulk_insert_stores_what_core_stores(engine) -> None:
    pg = engine.dialect.name == "postgresql"
    core, bulk = _tables("via_core"), _tables("via_bulk")
    core.metadata.create_all(engine)
    bulk.metadata.create_all(engine)
    rows = _rows(pg)
    with engine.begin() as conn:
        conn.execute(insert(core), rows)
        bulk_insert(conn, bulk, rows)
    with engine.connect() as conn:
        want = conn.execute(select(core).order_by(core.c.id)).all()
        got = conn.execute(select(bulk).order_by(bulk.c.id)).all()
    assert len(got) == len(rows)
    for w, g in zip(want, got, strict=True):
        assert g._mapping["made"] is not None and g._mapping["kind"] == "x"  # defaults filled in
        assert {k: v for k, v in g._mapping.items() if k != "made"} == \
            {k: v for k, v in w._mapping.items() if k != "made"}
    assert got[1]._mapping["at"] == datetime(2026, 1, 1, 19, 4, 6, 678901, tzinfo=UTC)


def test_a_failed_bulk_insert_writes_nothing(engine) -> None:
    """A duplicate key fails the whole insert, inside the caller's transaction."""
    t = _tables("dup")
    t.metadata.create_all(engine)
    rows = _rows(engine.dialect.name == "postgresql")
    with pytest.raises(Exception), engine.begin() as conn:  # noqa: B017 - the driver's own error
        bulk_insert(conn, t, rows + rows[:1])
    with engine.connect() as conn:
        assert conn.execute(select(t.c.id)).all() == []


def test_new_ids_are_sorted_uuid4_hex() -> None:
    """Ids made in one go look like ``new_id``'s (UUID4 hex) and come sorted (appended to indexes)."""
    import uuid

    from govfabric.store.bulk import new_ids

    ids = new_ids(2000)
    assert ids == sorted(ids) and len(set(ids)) == 2000
    for i in ids:
        u = uuid.UUID(hex=i)
        assert u.hex == i and u.version == 4 and u.variant == uuid.RFC_4122
    assert new_ids(0) == []


def test_paused_gc_nests_and_leaves_a_disabled_collector_off() -> None:
    import gc

    from govfabric.store.bulk import paused_gc

    assert gc.isenabled()
    with paused_gc():
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), paused_gc():
        raise ZeroDivisionError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _parent_child(engine) -> tuple[Table, Table]:
    md = MetaData()
    parent = Table("parent", md, Column("id", String(32), primary_key=True))
    child = Table("child", md, Column("id", String(32), primary_key=True),
                  Column("parent_id", String(32), ForeignKey("parent.id", ondelete="CASCADE"), nullable=False),
                  Column("name", Text))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(parent), [{"id": f"p{i}"} for i in range(3)])
    return parent, child


def _key(conn) -> tuple[int, str]:
    return conn.execute(text("SELECT oid, pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE conrelid = 'child'::regclass AND contype = 'f'")).one()


@pytest.mark.postgres
def test_bulk_load_checks_foreign_keys_once_and_keeps_them(pg_database: str) -> None:
    """Into a table with fewer rows than given, the foreign key is dropped and added again (a new
    constraint, the same definition) around the insert; it still holds: a row naming no parent
    fails the whole load."""
    engine = create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        parent, child = _parent_child(engine)
        rows = [{"id": f"c{i}", "parent_id": f"p{i % 3}", "name": f"n{i}"} for i in range(30)]
        with engine.begin() as conn:
            before = _key(conn)
            bulk_load(conn, child, rows, min_rows=10)
            after = _key(conn)
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"  # put back
        assert after[0] != before[0] and after[1] == before[1]
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(child)).scalar() == 30
            with pytest.raises(IntegrityError, match="violates foreign key"):
                bulk_load(conn, child, [{"id": f"d{i}", "parent_id": "p9" if i == 20 else "p1", "name": ""}
                                        for i in range(40)], min_rows=10)
            conn.rollback()
            assert conn.execute(select(func.count()).select_from(child)).scalar() == 30
            # a table holding as many rows as given: the key stays as it is, checked row by row
            bulk_load(conn, child, [{"id": f"e{i}", "parent_id": "p2", "name": ""} for i in range(20)], min_rows=10)
            assert _key(conn) == after
            conn.commit()
        with engine.begin() as conn:  # ON DELETE CASCADE still there
            conn.execute(parent.delete().where(parent.c.id == "p2"))
            assert conn.execute(select(func.count()).select_from(child)).scalar() == 30 - 10
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_bulk_load_waits_no_longer_than_its_lock_wait_and_inserts_with_the_key_in_place(pg_database: str) -> None:
    """Another transaction reading the table holds a lock the drop needs: the load gives up on it
    after ``LOAD_LOCK_WAIT`` and inserts with the key checked row by row, in the same transaction."""
    engine = create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        _, child = _parent_child(engine)
        with engine.connect() as reader, engine.begin() as conn:
            reader.execute(select(child)).all()  # its transaction stays open: ACCESS SHARE on child
            before = _key(conn)
            bulk_load(conn, child, [{"id": f"c{i}", "parent_id": "p0", "name": ""} for i in range(12)], min_rows=10)
            assert _key(conn) == before
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
            reader.rollback()
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(child)).scalar() == 12
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_bulk_load_by_a_user_who_does_not_own_the_table_inserts_with_the_key_in_place(pg_database: str) -> None:
    """A store user allowed to write the table but not to alter it: the drop is refused, the rows go in
    checked row by row, in the caller's transaction."""
    import uuid

    from sqlalchemy.engine import make_url

    owner = create_engine(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
    role = f"gf_writer_{uuid.uuid4().hex[:8]}"
    try:
        _, child = _parent_child(owner)
        with owner.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'w'")
            conn.exec_driver_sql(f"GRANT SELECT, INSERT ON parent, child TO {role}")
            before = _key(conn)
        writer = create_engine(make_url(pg_database.replace("postgresql://", "postgresql+psycopg://", 1))
                               .set(username=role, password="w"))
        try:
            with writer.begin() as conn:
                bulk_load(conn, child, [{"id": f"c{i}", "parent_id": "p1", "name": ""} for i in range(12)], min_rows=10)
        finally:
            writer.dispose()
        with owner.connect() as conn:
            assert _key(conn) == before
            assert conn.execute(select(func.count()).select_from(child)).scalar() == 12
    finally:
        with owner.begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        owner.dispose()
