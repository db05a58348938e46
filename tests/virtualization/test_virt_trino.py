"""The Trino engine on a real server: the demo's market-regulation tables in a real PostgreSQL,
read once through DuckDB's postgres extension and once through the catalog govfabric creates
on Trino — same grants, masks and row filters, same rows. Plus bad input: no or a dead Trino,
hostile SQL that must never reach the server, timeouts and the row limit."""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from infra.services import require_pg_url, require_trino_url
from trino_world import trino_cursor

from govfabric.errors import AccessDenied, ConfigError, QueryRejected, SourceError
from govfabric.virtualization.engines.trino import TrinoEngine, arrow_type

PASSWORD = "s3cr'et \"x"  # quotes: the catalog DDL must quote it; trust auth accepts any password
PASSWORD_URL = "s3cr%27et%20%22x"
MARK = "gfmark"

ENTERPRISE = dict(renames={"tyshxydm": "credit_code", "qymc": "enterprise_name", "qx": "district", "xzqh": "region",
                           "fddbr": "legal_rep", "fddbr_sfzh": "legal_rep_id", "zczb": "capital",
                           "clrq": "founded", "lxdh": "phone", "gxsj": "updated", "hy": "industry"},
                  only=["tyshxydm", "qymc", "qx", "xzqh", "fddbr", "fddbr_sfzh", "zczb", "clrq", "lxdh", "gxsj", "hy"])
CASE = dict(renames={"ajbh": "case_no", "tyshxydm": "credit_code", "fkje": "fine", "jcrq": "inspected",
                     "zfry": "officer", "ajzt": "status"},
            only=["ajbh", "tyshxydm", "fkje", "jcrq", "zfry", "ajzt"])
LICENCE = dict(renames={"zzbh": "licence_no", "tyshxydm": "credit_code", "zzzt": "status", "fzrq": "issued"},
               only=["zzbh", "tyshxydm", "zzzt", "fzrq"])

#: (id, SQL, ordered) — run by analyst1 (grants, masks, a row filter on enterprises) on both engines
QUERIES: list[tuple[str, str, bool]] = [
    ("group-sum", "SELECT district, count(*) AS n, sum(capital) AS total, min(capital) AS lo FROM market.enterprise "
                  "GROUP BY district", False),
    ("join", "SELECT e.enterprise_name, c.case_no, c.fine FROM market.enterprise e "
             "JOIN market.case c ON c.credit_code = e.credit_code WHERE c.fine > 0", False),
    ("left-join-count", "SELECT e.credit_code, count(l.licence_no) AS n FROM market.enterprise e "
                        "LEFT JOIN market.licence l ON l.credit_code = e.credit_code GROUP BY e.credit_code", False),
    ("masked-columns", "SELECT credit_code, legal_rep, legal_rep_id, phone, founded FROM market.enterprise", False),
    ("masked-predicate", "SELECT count(*) AS n FROM market.enterprise WHERE legal_rep_id LIKE '110105%'", False),
    ("masked-group", "SELECT legal_rep, count(*) AS n FROM market.enterprise GROUP BY legal_rep "
                     "HAVING count(*) > 1", False),
    ("hash-mask", "SELECT officer, count(*) AS n FROM market.case GROUP BY officer", False),
    ("window", "SELECT credit_code, rank() OVER (PARTITION BY industry ORDER BY capital DESC, credit_code) AS r "
               "FROM market.enterprise", False),
    ("order-limit", "SELECT enterprise_name, capital FROM market.enterprise ORDER BY capital DESC, credit_code "
                    "LIMIT 7", True),
    ("timestamps", "SELECT max(updated) AS last, min(founded) AS first FROM market.enterprise", False),
    ("date-parts", "SELECT extract(year FROM inspected) AS y, count(*) AS n, sum(fine) AS s FROM market.case "
                   "GROUP BY 1", False),
    ("strings", "SELECT substr(enterprise_name, 1, 2) AS p, length(enterprise_name) AS l, upper(credit_code) AS c "
                "FROM market.enterprise WHERE enterprise_name LIKE '%有限%'", False),
    ("cte-union", "WITH a AS (SELECT credit_code FROM market.enterprise), b AS (SELECT credit_code FROM "
                  "market.licence WHERE status IS NOT NULL) SELECT credit_code FROM a INTERSECT "
                  "SELECT credit_code FROM b", False),
    ("subquery-in", "SELECT case_no FROM market.case WHERE credit_code IN (SELECT credit_code FROM "
                    "market.enterprise WHERE capital > 100)", False),
    ("mysql-dialect", "SELECT `district`, COUNT(*) AS n FROM market.enterprise GROUP BY `district`", False),
]


# ---------------------------------------------------------------- the world


def _copy_demo(template: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in ("config.toml", "secret.key", "store.db"):
        shutil.copy2(template / name, target / name)
    (target / "duckdb_extensions").symlink_to(template / "duckdb_extensions", target_is_directory=True)
    return target


@pytest.fixture(scope="module")
def world(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The demo workspace with its market-regulation system in PostgreSQL, virtual tables,
    grants, masks and a row filter for analyst1; Trino configured."""
    import psycopg
    from psycopg import sql

    from govfabric.demo.generate import DemoFiles, write_to_postgres
    from govfabric.fabric import connect

    trino_url, pg_url = require_trino_url(), require_pg_url()
    home = _copy_demo(demo_template, tmp_path_factory.mktemp("trino") / "ws")
    db = f"gf_trino_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    base = pg_url.rpartition("/")[0]
    steward = connect(home, "steward_mr")
    steward.settings.trino_url = trino_url
    try:
        mr = Path(steward.catalog.source("mr_db").uri.split(":///", 1)[1])
        write_to_postgres(DemoFiles(mr.parent, mr, mr, (), mr, mr, ()), f"{base}/{db}", schema="market")
        user_host = base.split("://", 1)[1].split("@", 1)
        steward.catalog.add_source("mr_pg", f"postgresql://{user_host[0]}:{PASSWORD_URL}@{user_host[1]}/{db}")
        steward.catalog.harvest("mr_pg")
        v, a = steward.virtual, steward.access
        v.create_table("market.enterprise", "mr_pg.market.t_qy_jbxx", **ENTERPRISE)
        v.create_table("market.case", "mr_pg.market.t_jcaj", **CASE)
        v.create_table("market.licence", "mr_pg.market.t_yyzz", **LICENCE)
        a.grant("analyst1", "market.enterprise", row_filter="region = principal_attr('region')",
                columns=["credit_code", "enterprise_name", "district", "capital", "legal_rep", "legal_rep_id",
                         "phone", "founded", "updated", "industry"])
        a.grant("analyst1", "market.case")
        a.grant("analyst1", "market.licence", columns=["licence_no", "credit_code", "status"])
        a.set_mask("market.enterprise", "legal_rep_id", "resident_id")
        a.set_mask("market.enterprise", "legal_rep", "cn_name")
        a.set_mask("market.enterprise", "phone", "mobile")
        a.set_mask("market.enterprise", "founded", "year")
        a.set_mask("market.case", "officer", "hash", {"salt": "盐-2026"})
        a.add_row_filter("market.case", "analyst1", "fine IS NOT NULL OR status <> '已结案'")
        yield steward
    finally:
        try:
            if steward.settings.trino_url:
                TrinoEngine.for_fabric(steward).drop_catalogs(steward.catalog.sources())
        finally:
            steward.close()
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def _norm(v: object) -> object:
    if isinstance(v, Decimal | float):
        return round(float(v), 6)
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    return v


def _rows(table: Any, ordered: bool) -> list[tuple]:
    rows = [tuple(_norm(v) for v in r.values()) for r in table.to_pylist()]
    return rows if ordered else sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


# ---------------------------------------------------------------- same rows on both engines


@pytest.mark.trino
@pytest.mark.postgres
def test_same_rows_on_duckdb_and_trino(world: Any) -> None:
    analyst = world.as_user("analyst1")
    timings = {"duckdb": 0.0, "trino": 0.0}
    mismatches = []
    for qid, q, ordered in QUERIES:
        got = {}
        for engine in ("duckdb", "trino"):
            t0 = time.perf_counter()
            table = analyst.sql(q, dialect="mysql" if qid == "mysql-dialect" else None, engine=engine)
            timings[engine] += time.perf_counter() - t0
            got[engine] = (table.column_names, _rows(table, ordered))
        assert got["duckdb"][1], f"{qid}: no rows — the comparison would prove nothing"
        if got["duckdb"] != got["trino"]:
            mismatches.append((qid, got["duckdb"][:1] + (got["duckdb"][1][:3],), got["trino"][:1]
                               + (got["trino"][1][:3],)))
    assert not mismatches, mismatches
    # the policy really applied: masked ids, one region, the salted hash
    masked = analyst.sql("SELECT legal_rep_id, founded FROM market.enterprise LIMIT 20", engine="trino").to_pylist()
    assert all(r["legal_rep_id"] is None or "********" in r["legal_rep_id"] for r in masked)
    assert all(isinstance(r["founded"], int) for r in masked)
    regions = analyst.sql("SELECT DISTINCT district FROM market.enterprise", engine="trino").column(0).to_pylist()
    assert regions == ["朝阳区"]
    print(f"\n{len(QUERIES)} queries: duckdb {timings['duckdb']:.2f}s, trino {timings['trino']:.2f}s")


@pytest.mark.trino
@pytest.mark.postgres
def test_unaliased_projections_named_as_duckdb_names_them_on_both(world: Any) -> None:
    q = "SELECT district, count(*), sum(capital), min(capital) + 1 FROM market.enterprise GROUP BY district"
    names = {engine: world.sql(q, engine=engine).column_names for engine in ("duckdb", "trino")}
    assert names["duckdb"] == names["trino"] == ["district", "count_star()", "sum(capital)", "(min(capital) + 1)"]


@pytest.mark.trino
@pytest.mark.postgres
def test_revoked_grant_is_denied_on_both(world: Any) -> None:
    analyst = world.as_user("analyst1")
    g = world.access.grant("analyst1", "market.licence", columns=["issued"])
    q = "SELECT count(issued) AS n FROM market.licence"
    assert analyst.sql(q, engine="trino").to_pylist() == analyst.sql(q, engine="duckdb").to_pylist()
    world.access.revoke(g.id, "test over")
    for engine in ("duckdb", "trino"):
        with pytest.raises(AccessDenied, match="issued"):
            analyst.sql(q, engine=engine)
    with pytest.raises(AccessDenied):  # a column never granted, and no grant at all for another user
        world.as_user("steward_ps").sql("SELECT credit_code FROM market.enterprise", engine="trino")


@pytest.mark.trino
@pytest.mark.postgres
def test_catalogs_are_generated_quoted_and_reused(world: Any) -> None:
    src = world.catalog.source("mr_pg")
    name = TrinoEngine.catalog_name(src)
    eng = world.queries.engine("trino")
    world.sql("SELECT count(*) AS n FROM market.enterprise", engine="trino")
    assert name in eng.catalogs() and name.startswith("gf_mr_pg_")
    status = eng.status()
    assert status["reachable"] and status["version"] == "476" and name in status["catalogs"]
    assert PASSWORD not in repr(status) and PASSWORD not in name
    # prepared once: a second query does not re-create the catalog (no DDL statements)
    before = _history(f"CREATE CATALOG {chr(34)}{name}")
    world.sql("SELECT count(*) AS n FROM market.case", engine="trino")
    assert _history(f"CREATE CATALOG {chr(34)}{name}") == before
    # static rendering for operators: no password, an ENV reference instead
    props = TrinoEngine.catalog_properties(src)
    assert "connector.name=postgresql" in props and "${ENV:GF_MR_PG_PASSWORD}" in props
    assert "jdbc:postgresql://127.0.0.1:55432/gf_trino_" in props and PASSWORD not in props
    # another engine instance (another process) adopts the existing catalog
    other = TrinoEngine.for_fabric(world)
    try:
        bindings = world.queries.plan("SELECT credit_code FROM market.enterprise", engine="trino")[1]
        other.prepare(bindings)
        assert other._ready and _history(f"CREATE CATALOG {chr(34)}{name}") == before
    finally:
        other.close()
    # dropped on the server behind govfabric's back: a clear error, then recreated
    cur = trino_cursor(require_trino_url())
    cur.execute(f'DROP CATALOG "{name}"')
    cur.fetchall()
    with pytest.raises(SourceError, match="run the query again"):
        world.sql("SELECT count(*) AS n FROM market.enterprise", engine="trino")
    assert world.sql("SELECT count(*) AS n FROM market.enterprise", engine="trino").num_rows == 1
    # a source re-registered with other credentials gets a new catalog
    pw_src = src.uri.replace("postgres@", f"postgres:{PASSWORD_URL}2@")
    world.catalog.add_source("mr_pg", pw_src, replace=True)
    renamed = TrinoEngine.catalog_name(world.catalog.source("mr_pg"))
    assert renamed != name
    world.sql("SELECT count(*) AS n FROM market.enterprise", engine="trino")
    assert renamed in eng.catalogs()
    assert set(eng.drop_catalogs([world.catalog.source("mr_pg")])) >= {name, renamed}


def _history(fragment: str) -> int:
    """How many queries the server saw containing ``fragment`` (the probe itself excluded)."""
    cur = trino_cursor(require_trino_url())
    half = len(fragment) // 2
    cur.execute("SELECT count(*) FROM system.runtime.queries WHERE strpos(query, concat(?, ?)) > 0",
                [fragment[:half], fragment[half:]])
    return int(cur.fetchall()[0][0])


# ---------------------------------------------------------------- bad input


@pytest.mark.trino
@pytest.mark.postgres
def test_hostile_sql_never_reaches_trino(world: Any) -> None:
    tag = uuid.uuid4().hex[:12]
    world.sql("SELECT count(*) AS n FROM market.case", engine="trino")  # the catalog exists
    catalog = TrinoEngine.catalog_name(world.catalog.source("mr_pg"))
    hostile = [
        "SELECT '{m}' AS m, * FROM system.runtime.nodes",
        "SELECT '{m}' AS m, * FROM system.runtime.queries",
        "SELECT '{m}' AS m FROM system.metadata.catalogs",
        "SELECT '{m}' AS m, * FROM TABLE(system.query(query => 'SELECT 1'))",
        "SELECT * FROM TABLE({c}.system.query(query => 'SELECT ''{m}'''))",
        "SELECT '{m}' AS m, * FROM {c}.market.t_qy_jbxx",
        "SELECT '{m}' AS m, * FROM memory.default.t_rk_jbxx",
        "SELECT '{m}' AS m, * FROM tpch.tiny.nation",
        "SELECT '{m}' AS m, * FROM {c}.information_schema.tables",
        "SELECT '{m}' AS m, * FROM market.enterprise e, {c}.market.t_jcaj j",
        "WITH x AS (SELECT * FROM {c}.market.t_qy_jbxx) SELECT '{m}' AS m FROM x",
        "SELECT '{m}' AS m; DROP CATALOG {c}",
        "CREATE CATALOG x{m} USING memory",
        "SHOW CATALOGS",
        "SET SESSION query_max_run_time = '1d'",
        "SELECT '{m}' AS m, current_user, legal_rep_id FROM market.enterprise",
    ]
    analyst = world.as_user("analyst1")
    for q in hostile:
        with pytest.raises((QueryRejected, AccessDenied)):
            analyst.sql(q.format(m=f"{MARK}{tag}", c=catalog), engine="trino")
        with pytest.raises((QueryRejected, AccessDenied)):  # the steward is refused the same way
            world.sql(q.format(m=f"{MARK}{tag}", c=catalog), engine="trino")
    assert _history(f"{MARK}{tag}") == 0
    probe = trino_cursor(require_trino_url())  # the probe sees a query that did reach the server
    probe.execute(f"SELECT '{MARK}{tag}'")
    probe.fetchall()
    assert _history(f"{MARK}{tag}") == 1
    assert catalog in world.queries.engine("trino").catalogs()


@pytest.mark.trino
@pytest.mark.postgres
def test_timeout_and_row_limit_on_trino(world: Any) -> None:
    s = world.settings
    old = s.query_timeout_s, s.query_row_limit
    try:
        s.query_row_limit = 100
        with pytest.raises(QueryRejected, match="row limit"):
            world.sql("SELECT credit_code FROM market.enterprise", engine="trino")
        s.query_row_limit = 10_000_000
        s.query_timeout_s = 1.0
        t0 = time.perf_counter()
        with pytest.raises(QueryRejected, match="timeout"):
            world.sql("SELECT count(*) AS n FROM market.enterprise a, market.enterprise b, market.enterprise c "
                      "WHERE a.capital + b.capital > c.capital", engine="trino")
        assert time.perf_counter() - t0 < 1.0 + 5.0
    finally:
        s.query_timeout_s, s.query_row_limit = old
    assert world.sql("SELECT count(*) AS n FROM market.case", engine="trino").num_rows == 1  # healthy


@pytest.mark.trino
@pytest.mark.postgres
def test_unreachable_source_through_trino(world: Any) -> None:
    from govfabric.catalog.models import Asset, AssetColumn

    world.catalog.add_source("deadpg", "postgresql://u:pw@127.0.0.1:1/db")
    with world.store.session() as s:
        src = world.catalog.source("deadpg", s)
        asset = Asset(qualified_name="deadpg.public.t", source_id=src.id, name="t",
                      owner_department=src.department, location={"schema": "public", "table": "t"})
        s.add(asset)
        s.flush()
        s.add(AssetColumn(asset_id=asset.id, position=1, name="x", data_type="int"))
    world.virtual.create_table("dead.t", "deadpg.public.t")
    try:
        with pytest.raises(SourceError, match="unreachable") as info:
            world.sql("SELECT * FROM dead.t", engine="trino")
        assert "pw" not in str(info.value).replace("password", "")
        assert world.sql("SELECT count(*) AS n FROM market.case", engine="trino").num_rows == 1
    finally:
        world.queries.engine("trino").drop_catalogs([world.catalog.source("deadpg")])


def test_no_trino_url_and_a_dead_trino_give_clear_errors(demo: Any) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", only=["qymc"])
    demo.settings.trino_url = None
    eng = TrinoEngine.for_fabric(demo)
    with pytest.raises(ConfigError, match="set trino_url"):
        eng.prepare([])
    with pytest.raises(ConfigError, match="set trino_url"):
        list(eng.stream("SELECT 1", timeout_s=5, row_limit=10))
    assert eng.status()["reachable"] is False
    demo.settings.trino_url = "http://127.0.0.1:1"
    eng = TrinoEngine.for_fabric(demo)
    t0 = time.perf_counter()
    with pytest.raises(SourceError, match=r"Trino at http://127.0.0.1:1 is unreachable.*trino_url"):
        list(eng.stream("SELECT 1", timeout_s=5, row_limit=10))
    assert time.perf_counter() - t0 < 10
    assert "unreachable" in eng.status()["error"]
    # a SQLite source is DuckDB's: Trino says so instead of guessing
    with pytest.raises(QueryRejected, match="not available on the trino engine"):
        demo.sql("SELECT qymc FROM market.enterprise", engine="trino")  # SQLite source: no Trino reference
    assert demo.sql("SELECT count(*) AS n FROM market.enterprise").num_rows == 1


def test_trino_types_map_to_arrow() -> None:
    import pyarrow as pa

    from govfabric.virtualization.engines.trino import arrow_schema, to_batch

    assert arrow_type("decimal(18, 4)") == pa.decimal128(18, 4)
    assert arrow_type("varchar(12)") == pa.string() and arrow_type("char(3)") == pa.string()
    assert arrow_type("timestamp(3) with time zone") == pa.timestamp("us", tz="UTC")
    assert arrow_type("array(bigint)") == pa.list_(pa.int64())
    assert arrow_type("map(varchar, integer)") == pa.string()
    schema = arrow_schema([("n", "bigint"), ("j", "json"), ("d", "date"), ("x", "unknown")])
    batch = to_batch([[1, {"a": "甲"}, dt.date(2020, 1, 2), None], [None, None, None, None]], schema)
    assert batch.to_pylist() == [{"n": 1, "j": '{"a": "甲"}', "d": dt.date(2020, 1, 2), "x": None},
                                 {"n": None, "j": None, "d": None, "x": None}]
    assert to_batch([], schema).schema == schema
