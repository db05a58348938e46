"""The harvest's PII scan of many tables at once (issue 15: one access check, one store transaction,
one mask pass) gives the results of scanning them one by one; it reads through the guarded path
and names a table that fails, keeping those scanned before it."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from test_security_detect import ids, luhn_cards, wrong_check

from govfabric.errors import AccessDenied, SourceError
from govfabric.governance.security.sample import assets_with_sources, sample_columns, sample_many

N = 40


def plant(execute: Any, many: Any, mark: str) -> None:
    """Tables of varied shapes: values of many types, an empty table, odd column names, NULLs."""
    people, cards = ids(N, seed=3), luhn_cards(N)
    execute('CREATE TABLE t_a (c1 TEXT, c7 TEXT, "Mixed Case" TEXT, "q""uote" REAL, n INTEGER)')
    many(f"INSERT INTO t_a VALUES ({mark},{mark},{mark},{mark},{mark})", [
        (f"R{i}", people[i], wrong_check(people[i]), i * 0.5, None if i % 3 else i) for i in range(N)])
    execute("CREATE TABLE t_b (card TEXT, tel TEXT, d DATE)")
    many(f"INSERT INTO t_b VALUES ({mark},{mark},{mark})",
         [(cards[i], f"1390013{i:04d}", date(2020, 1, i % 28 + 1)) for i in range(N)])
    execute("CREATE TABLE t_empty (sfzh TEXT, xm TEXT)")
    for k in range(4):
        execute(f"CREATE TABLE t_more{k} (mobile TEXT, v INTEGER)")
        many(f"INSERT INTO t_more{k} VALUES ({mark}, {mark})", [(f"1370013{i:04d}", i) for i in range(k * 5)])


def source_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, Callable[[str], None]]:
    """A planted source of ``kind``, and how to run a statement on it."""
    if kind == "sqlite":
        path = tmp_path / "b.db"

        def run_sqlite(sql: str, rows: Any = None) -> None:
            with sqlite3.connect(path) as con:
                con.executemany(sql, rows) if rows is not None else con.execute(sql)

        plant(run_sqlite, run_sqlite, "?")
        return f"sqlite:///{path}", run_sqlite
    import psycopg

    url = request.getfixturevalue("make_pg_database")()

    def run_pg(sql: str, rows: Any = None) -> None:
        with psycopg.connect(url, autocommit=True) as con, con.cursor() as cur:
            cur.executemany(sql, rows) if rows is not None else cur.execute(sql)

    plant(run_pg, run_pg, "%s")
    return url, run_pg


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def planted(request: pytest.FixtureRequest, steward, tmp_path: Path) -> Any:
    url, run = source_url(request.param, tmp_path, request)
    steward.catalog.add_source("b", url)
    steward.settings.pii_scan_on_harvest = False  # the tests drive the scans
    steward.catalog.harvest("b")
    steward.run_on_source = run
    return steward


def _prefix(steward: Any) -> str:
    return "b.public." if steward.catalog.source("b").kind == "postgresql" else "b.main."


def _names(steward: Any) -> list[str]:
    return sorted(a.qualified_name for a in steward.catalog.assets(source="b", limit=None))


def _as_counts(sample: dict[str, list[Any]]) -> dict[str, Counter[str]]:
    return {c: Counter(map(repr, v)) for c, v in sample.items()}


def test_batched_samples_equal_one_by_one(planted) -> None:
    pairs = assets_with_sources(planted, _names(planted))
    batched = sample_many(planted, [(a, s, None) for a, s in pairs], 25)
    alone = [sample_columns(planted, a, s, limit=25) for a, s in pairs]
    assert [_as_counts(b) for b in batched] == [_as_counts(x) for x in alone]
    by = dict(zip((a.name for a, _ in pairs), batched, strict=True))
    assert len(by["t_a"]["c7"]) == 25 and by["t_empty"] == {"sfzh": [], "xm": []}
    assert sorted(v for v in by["t_a"]["n"] if v is not None) == [0, 3, 6, 9, 12, 15, 18, 21, 24]
    assert str(by["t_b"]["d"][0]).startswith("2020-01-")  # types kept (a DATE stays a date)


def test_scan_many_equals_scan(planted) -> None:
    names = _names(planted)

    def seen() -> list[tuple[Any, ...]]:
        return [(r.asset_name, r.column_name, r.pii_class, r.confidence, r.evidence, r.method, r.sampled,
                 r.matches) for r in planted.security.classifications()]

    before = planted.audit.head()[0]
    got = planted.security.scan_many(names, sample=30)
    batched = seen()
    events = planted.audit.segment(before + 1, planted.audit.head()[0])
    assert sorted(e.target for e in events if e.action == "data.read") == [f"asset:{n}" for n in names]
    assert sorted(e.target for e in events if e.action == "security.scan") == [f"asset:{n}" for n in names]
    for n in names:
        planted.security.scan(n, sample=30)
    assert seen() == batched
    one = planted.audit.events(action="security.scan")[-len(names):]
    assert planted.security.scan_many(names, sample=30, rows=False) == {}  # the harvest hook's way
    assert seen() == batched
    again = planted.audit.events(action="security.scan")[-len(names):]
    assert [(e.target, e.details) for e in again] == [(e.target, e.details) for e in one]
    pre = _prefix(planted)
    assert {r.column_name for r in got[pre + "t_a"] if r.pii_class} == {"c7"}
    assert {r.column_name: r.pii_class for r in got[pre + "t_b"] if r.pii_class} == {"card": "bank_card",
                                                                                     "tel": "mobile"}


def test_a_failing_table_is_named_and_the_ones_before_it_kept(planted) -> None:
    names, pre = _names(planted), _prefix(planted)
    planted.run_on_source("DROP TABLE t_empty")  # gone at the source since the harvest
    with pytest.raises(SourceError, match=f"cannot sample {pre}t_empty"):
        planted.security.scan_many(names)
    done = {r.asset_name for r in planted.security.classifications()}
    assert done == {pre + "t_a", pre + "t_b"}  # scanned before it, as one by one would


def test_batched_sampling_is_guarded(planted, analyst) -> None:
    pairs = assets_with_sources(planted, _names(planted))
    with pytest.raises(AccessDenied):
        sample_many(analyst, [(a, s, None) for a, s in pairs])


def test_scan_source_reports_progress_per_asset(planted) -> None:
    calls: list[tuple[str, int, int]] = []
    got = planted.security.scan_source("b", sample=10, progress=lambda qn, i, n: calls.append((qn, i, n)))
    names = [a.qualified_name for a in planted.catalog.assets(source="b", limit=None)]
    assert calls == [(qn, i, len(names)) for i, qn in enumerate(names)]
    assert set(got) == set(names) and all(got[n] for n in names)


@pytest.mark.postgres
def test_a_postgresql_sample_through_the_server_equals_the_scanners(steward, pg_database) -> None:
    """Sampling hands a PostgreSQL source its query whole (``postgres_query``: no catalog load); the
    values are those DuckDB's table scan gives, for every type a harvest meets, odd names included."""
    import psycopg

    from govfabric.governance.security.sample import sample_sql
    from govfabric.virtualization.engines import Binding

    types = ["integer", "bigint", "smallint", "varchar(64)", "text", "char(18)", "numeric(18,2)", "numeric",
             "double precision", "real", "boolean", "date", "timestamp", "timestamp with time zone", "time",
             "jsonb", "json", "uuid", "bytea", "text[]", "mood", "code18", "interval", "inet"]
    cols = [f'"c{i} {t}""x"' for i, t in enumerate(types)]
    row = ("7", "13800138000", "-3", "张三", "北京市海淀区中关村大街1号", "11010519491231002X", "13800138000.00",
           "1.5e3", "13800138000", "0.25", "true", "2020-02-29", "2020-01-02 03:04:05",
           "2020-01-02 03:04:05+08", "12:34:56", '{"a": "x@y.cn", "b": [1, 2]}', '{"k": 1}',
           "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "\\xdeadbeef", "{a,b}", "sad", "91350100M000100Y43",
           "1 day 02:00:00", "10.0.0.1")
    with psycopg.connect(pg_database, autocommit=True) as con:
        con.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
        con.execute("CREATE DOMAIN code18 AS varchar(18)")
        defs = ", ".join(f"{c} {t}" for c, t in zip(cols, types, strict=True))
        con.execute(f'CREATE TABLE "O\'dd ""t"" 表" ({defs})')
        con.execute(f'INSERT INTO "O\'dd ""t"" 表" VALUES ({", ".join(["%s"] * len(types))})', row)
        con.execute(f'INSERT INTO "O\'dd ""t"" 表" VALUES ({", ".join(["NULL"] * len(types))})')
    steward.settings.pii_scan_on_harvest = False
    steward.catalog.add_source("p", pg_database)
    steward.catalog.harvest("p")
    [(asset, src)] = assets_with_sources(steward, [a.qualified_name for a in steward.catalog.assets(source="p")])
    names = [c.name for c in asset.columns]
    assert len(names) == len(types)
    engine = steward.queries.engine("duckdb")
    binding = Binding(src, asset)
    engine.prepare([binding])
    ref = engine.physical_ref(binding)
    assert ref is not None

    def read(sql: str) -> list[list[Any]]:
        table = pa.Table.from_batches(list(engine.stream(sql, timeout_s=30, row_limit=10)))
        return [table.column(k).to_pylist() for k in range(table.num_columns)]

    through_server = sample_sql(ref, names, 5, "postgresql")
    assert through_server.startswith("SELECT * FROM postgres_query(")
    by_scan = read(sample_sql(ref, names, 5))
    assert read(through_server) == by_scan
    assert sample_many(steward, [(asset, src, None)], 5)[0] == dict(zip(names, by_scan, strict=True))


def test_a_scan_samples_on_an_engine_of_its_own_with_one_thread(planted) -> None:
    """A scan's many small LIMIT queries run on a DuckDB engine of one thread, closed after it; the
    workspace's engine keeps its threads."""
    from govfabric.governance.security.sample import sampling_engine

    pairs = assets_with_sources(planted, _names(planted)[:2])
    with sampling_engine(planted) as engine:
        got = sample_many(planted, [(a, s, None) for a, s in pairs], 25, engine)
        assert engine._con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert engine._con is None
    assert got == sample_many(planted, [(a, s, None) for a, s in pairs], 25)
    shared = planted.queries.engine("duckdb")
    assert shared._con.execute("SELECT current_setting('threads')").fetchone()[0] == planted.settings.duckdb_threads
    assert planted.settings.duckdb_threads > 1
