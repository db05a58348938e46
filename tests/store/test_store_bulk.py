"""``bulk_insert`` (COPY on PostgreSQL, one compiled executemany on SQLite) stores exactly what
Core's ``insert()`` stores: JSON, arrays, booleans, UTC timestamps, awkward text, NULLs, defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, Text, create_engine, insert, select
from sqlalchemy.dialects.postgresql import ARRAY

from govfabric.store.base import UTCDateTime, utcnow
from govfabric.store.bulk import bulk_insert

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
