"""The direct engine (issue 11, item 4): a query whose tables live in one PostgreSQL database runs
there whole — the same rows and masked values as DuckDB, recorded like any query — or is refused
so that the caller falls back (several sources, masks without an equal, exotic result types)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from infra.services import require_pg_url

from govfabric.virtualization.engines.direct import NotDirect

DDL = """
CREATE TABLE ent (uscc text PRIMARY KEY, name text, phone varchar(20), capital numeric(18, 2), founded date,
  district text, staff integer, meta jsonb, ratio double precision);
INSERT INTO ent VALUES
 ('91350102MA2YQ1XX1A', '福州鼓楼科技有限公司', '13912345678', 1234567.89, '2019-03-01', '350102', 12, '{"a": 1}', 0.5),
 ('91350103MA2YQ2XX2B', '台江_贸易%公司', '13800001111', 0.01, '2020-12-31', '350103', NULL, NULL, NULL),
 ('91350102MA2YQ3XX3C', NULL, NULL, NULL, NULL, '350102', 0, NULL, -1.25),
 ('91350102MA2YQ4XX4D', '欧阳数据服务中心', '059187654321', 99.5, '2001-01-01', '350102', 300, NULL, 2);
CREATE TABLE other (id integer PRIMARY KEY, uscc text);
INSERT INTO other VALUES (1, '91350102MA2YQ1XX1A');
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import psycopg
    from psycopg import sql

    from govfabric.fabric import init_workspace

    pg_url = require_pg_url()
    db = f"gf_direct_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    url = f"{pg_url.rpartition('/')[0]}/{db}"
    f = init_workspace(tmp_path_factory.mktemp("direct") / "ws")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(DDL)
        f.add_principal("analyst1", ["analyst"], department="发展改革委")
        f.catalog.add_source("pgd", url)
        f.catalog.harvest("pgd")
        f.virtual.create_table("market.ent", "pgd.public.ent")
        f.virtual.create_table("market.other", "pgd.public.other")
        f.access.set_mask("market.ent", "phone", "mobile")
        f.access.set_mask("market.ent", "name", "cn_name")
        f.access.grant("analyst1", "market.ent", row_filter="district = '350102'")
        f.access.grant("analyst1", "market.other")
        for t in ("market.ent", "market.other"):
            f.access.grant("admin", t)
        yield f, f.as_user("analyst1")
    finally:
        f.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


QUERIES = [
    "SELECT uscc, name, phone, capital, founded, district, staff, ratio FROM market.ent ORDER BY uscc",
    "SELECT name, phone FROM market.ent WHERE uscc = '91350102MA2YQ1XX1A'",
    "SELECT uscc, capital FROM market.ent WHERE capital >= 99.5 AND founded < DATE '2020-01-01' ORDER BY capital DESC",
    "SELECT count(*) AS n, count(name) AS named FROM market.ent",
    "SELECT uscc FROM market.ent WHERE name LIKE '福州%' OR starts_with(uscc, '9135010') ORDER BY staff DESC, uscc",
    "SELECT e.uscc, o.id FROM market.ent e JOIN market.other o ON o.uscc = e.uscc",
    "SELECT uscc FROM market.ent WHERE uscc > '91350102MA2YQ1XX1A' ORDER BY uscc LIMIT 2",
]


@pytest.mark.postgres
@pytest.mark.parametrize("sql", QUERIES)
def test_direct_answers_as_duckdb_does(world: Any, sql: str) -> None:
    _, analyst = world
    duck = analyst.sql(sql, engine="duckdb")
    direct = analyst.sql(sql, engine="direct")
    assert direct.schema == duck.schema
    assert direct.to_pylist() == duck.to_pylist()
    assert analyst.queries.plan(sql, engine="direct")[0].sql.startswith("/* govfabric direct: pgd */ SELECT")


@pytest.mark.postgres
def test_masks_and_row_filter_hold_on_the_source(world: Any) -> None:
    _, analyst = world
    rows = analyst.sql("SELECT uscc, name, phone FROM market.ent ORDER BY uscc", engine="direct").to_pylist()
    assert [r["uscc"][-1] for r in rows] == ["A", "C", "D"]  # the row filter: 350102 only
    assert rows[0]["name"] == "福*********" and rows[0]["phone"] == "139****5678"
    assert rows[2]["name"] == "欧阳******" and rows[1]["name"] is None and rows[1]["phone"] is None


@pytest.mark.postgres
def test_keyed_hash_mask_is_computed_on_the_source_the_same(world: Any) -> None:
    admin, analyst = world
    admin.access.set_mask("market.ent", "district", "hash", {"salt": "s"})
    try:
        sql = "SELECT uscc, district FROM market.ent ORDER BY uscc"
        duck, direct = (analyst.sql(sql, engine=e).to_pylist() for e in ("duckdb", "direct"))
        assert direct == duck and len(direct[0]["district"]) == 64
        shown = admin.queries.explain(sql, engines=["direct"])["direct"]
        assert "<mask key>" in shown and "convert_to" in shown.lower() and "unhex" not in shown.lower()
        admin.access.set_mask("market.ent", "district", "hash", {"alg": "sm3"})
        with pytest.raises(NotDirect, match="SM3|gf_hmac_sm3"):
            analyst.queries.plan(sql, engine="direct")
        assert analyst.queries.engine_for(sql) == "duckdb"  # auto falls back; the mask is never weakened
        assert analyst.sql(sql, engine="auto").to_pylist() == analyst.sql(sql, engine="duckdb").to_pylist()
    finally:
        admin.access.remove_mask("market.ent", "district")


@pytest.mark.postgres
@pytest.mark.parametrize(("sql", "why"), [
    ("SELECT meta FROM market.ent", "jsonb"),
    ("SELECT staff / 7 AS q FROM market.ent", "division"),
    ("SELECT regexp_matches(uscc, '^9') AS m FROM market.ent", "regular expression|function"),
    ("SELECT round(ratio, 1) AS r FROM market.ent", "function"),
    ("SELECT row_number() OVER (ORDER BY uscc) AS n FROM market.ent", "window"),
])
def test_what_could_differ_is_refused_and_auto_falls_back(world: Any, sql: str, why: str) -> None:
    _, analyst = world
    with pytest.raises(NotDirect, match=why):
        analyst.queries.plan(sql, engine="direct")
    assert analyst.queries.engine_for(sql) == "duckdb"
    assert analyst.sql(sql, engine="auto").to_pylist() == analyst.sql(sql, engine="duckdb").to_pylist()


@pytest.mark.postgres
def test_auto_chooses_direct_and_the_query_is_recorded(world: Any) -> None:
    from sqlalchemy import select

    from govfabric.auth.models import AuditEvent
    from govfabric.virtualization.models import QueryLog

    admin, analyst = world
    sql = "SELECT uscc, phone FROM market.ent WHERE uscc = '91350102MA2YQ4XX4D'"
    assert analyst.queries.engine_for(sql) == "direct"
    assert analyst.sql(sql, engine="auto").to_pylist() == [{"uscc": "91350102MA2YQ4XX4D", "phone": "059*****4321"}]
    with admin.store.session() as s:
        log = s.scalars(select(QueryLog).order_by(QueryLog.id.desc()).limit(1)).one()
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "sql.query")
                          .order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (log.engine, log.principal, log.status, log.rows) == ("direct", "analyst1", "ok", 1)
    assert event.details["engine"] == "direct" and event.details["masked"] == {"market.ent": ["phone"]}
    assert event.details["row_filtered"] == ["market.ent"]


@pytest.mark.postgres
def test_the_session_is_read_only_with_the_timeout(world: Any) -> None:
    admin, _ = world
    eng = admin.queries.engine("direct")
    admin.sql("SELECT uscc FROM market.ent LIMIT 1", engine="direct")
    with eng._pools["pgd"][1].connection() as con:
        assert con.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert con.execute("SHOW statement_timeout").fetchone()[0] != "0"
        assert con.execute("SHOW application_name").fetchone() == ("govfabric-direct",)
        with pytest.raises(Exception, match="read-only"):
            con.execute("CREATE TABLE nope (x int)")


@pytest.mark.postgres
def test_several_sources_are_refused(world: Any, tmp_path: Any) -> None:
    admin, _ = world
    import sqlite3

    path = tmp_path / "s.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE t (uscc TEXT)")
        con.execute("INSERT INTO t VALUES ('91350102MA2YQ1XX1A')")
    admin.catalog.add_source("lite", f"sqlite:///{path}")
    admin.catalog.harvest("lite")
    admin.virtual.create_table("market.lite", "lite.main.t")
    admin.access.grant("admin", "market.lite")
    sql = "SELECT e.uscc FROM market.ent e JOIN market.lite l ON l.uscc = e.uscc"
    with pytest.raises(NotDirect, match="several sources"):
        admin.queries.plan(sql, engine="direct")
    with pytest.raises(NotDirect, match="sqlite"):
        admin.queries.plan("SELECT uscc FROM market.lite", engine="direct")
    assert admin.sql(sql, engine="auto").num_rows == 1


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [
    "SELECT uscc, staff FROM market.ent ORDER BY staff DESC, uscc",
    "SELECT uscc, ratio FROM market.ent ORDER BY ratio, uscc",
    "SELECT uscc, name FROM market.ent WHERE name LIKE '台江\\_%' OR name LIKE '%\\%%' ORDER BY uscc",
])
def test_nulls_order_and_like_escapes_as_duckdb(world: Any, sql: str) -> None:
    admin, _ = world
    assert admin.sql(sql, engine="direct").to_pylist() == admin.sql(sql, engine="duckdb").to_pylist()


@pytest.mark.postgres
def test_a_refused_query_falls_back_without_planning_again(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from govfabric.virtualization import query

    _, analyst = world
    calls: list[str] = []
    real = query.plan
    monkeypatch.setattr(query, "plan", lambda *a, **k: calls.append(k["engine"]) or real(*a, **k))
    sql = "SELECT staff / 3 AS third FROM market.ent WHERE uscc = '91350102MA2YQ4XX4D'"
    assert analyst.sql(sql, engine="auto").to_pylist() == [{"third": 100.0}]
    assert calls == ["duckdb"]  # planned once: the refused direct plan's DuckDB plan was kept


@pytest.mark.postgres
def test_a_conditional_query_service_runs_direct_with_the_same_pages(world: Any) -> None:
    from sqlalchemy import select

    from govfabric.virtualization.models import QueryLog

    admin, analyst = world
    admin.query_api.create("ent_direct", "market.ent", params={"uscc": ["eq"], "district": ["eq", "in"],
                           "name": ["prefix"], "founded": ["range"]}, require_one_of=["uscc", "district", "name"],
                           columns=["name", "phone", "capital", "founded"], order=["uscc"], page_size=2)
    calls = [{"district": ["350102"]}, {"name.prefix": ["欧阳"]}, {"uscc": ["91350102MA2YQ1XX1A"]},
             {"district.in": ["350102,350103"], "founded.gte": ["2001-01-01"]}]
    for params in calls:
        pages, token = [], None
        while True:
            page = analyst.query_api.call("ent_direct", params, page_token=token)
            pages.append(page.rows)
            with admin.store.session() as s:
                assert s.scalars(select(QueryLog.engine).order_by(QueryLog.id.desc()).limit(1)).one() == "direct"
            token = page.next_page_token
            if token is None:
                break
        rows = [r for p in pages for r in p]
        conds = {"district": "district = '350102'", "name.prefix": "starts_with(name, '欧阳')",
                 "uscc": "uscc = '91350102MA2YQ1XX1A'", "district.in": "founded >= DATE '2001-01-01'"}
        cond = conds[next(iter(params))]
        expected = analyst.sql(f"SELECT name, phone, capital, founded FROM market.ent WHERE {cond} ORDER BY uscc",
                               engine="duckdb").to_pylist()
        assert rows == expected and rows


@pytest.mark.postgres
def test_a_mask_casting_a_double_to_text_stays_with_duckdb(world: Any) -> None:
    admin, analyst = world
    admin.access.set_mask("market.ent", "ratio", "partial", {"first": 1, "last": 0})
    admin.access.set_mask("market.ent", "staff", "partial", {"first": 1, "last": 0})
    try:
        with pytest.raises(NotDirect, match="float8"):
            analyst.queries.plan("SELECT ratio FROM market.ent", engine="direct")
        sql = "SELECT uscc, staff, capital FROM market.ent ORDER BY uscc"
        assert analyst.sql(sql, engine="direct").to_pylist() == analyst.sql(sql, engine="duckdb").to_pylist()
        sql = "SELECT uscc, ratio FROM market.ent ORDER BY uscc"
        assert analyst.queries.engine_for(sql) == "duckdb"
        assert analyst.sql(sql, engine="auto").to_pylist() == analyst.sql(sql, engine="duckdb").to_pylist()
    finally:
        admin.access.remove_mask("market.ent", "ratio")
        admin.access.remove_mask("market.ent", "staff")


# -- parameterised plans: cached by the query's shape, per principal and change counter -------------

SHAPE = "SELECT uscc, name, district FROM market.ent WHERE district = ? ORDER BY uscc"


def _count_plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from govfabric.virtualization import query

    calls: list[str] = []
    real = query.plan
    monkeypatch.setattr(query, "plan", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    return calls


@pytest.mark.postgres
@pytest.mark.parametrize("engine", ["direct", "duckdb"])
def test_a_new_value_reuses_the_plan_and_is_bound_typed(world: Any, engine: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = world
    calls = _count_plans(monkeypatch)
    for district in ("350102", "350103", "350102", "0' OR '1'='1"):
        got = admin.queries.sql(SHAPE, engine=engine, params=[district]).to_pylist()
        quoted = district.replace("'", "''")
        want = admin.sql(f"SELECT uscc, name, district FROM market.ent WHERE district = '{quoted}' ORDER BY uscc",
                         engine="duckdb").to_pylist()
        assert got == want
    assert calls.count(SHAPE) == 1  # the shape planned once, whatever the value
    sql = "SELECT uscc FROM market.ent WHERE uscc LIKE '%X_D' OR founded >= CAST(? AS DATE) ORDER BY uscc"
    assert admin.queries.sql(sql, engine=engine, params=["2020-01-01"]).to_pylist() == [
        {"uscc": "91350102MA2YQ4XX4D"}, {"uscc": "91350103MA2YQ2XX2B"}]  # `%` of the text kept apart from `%s`


@pytest.mark.postgres
def test_a_cached_shape_never_crosses_principals(world: Any) -> None:
    admin, analyst = world
    for _ in range(2):  # each order: the other's cached plan is never used
        assert analyst.queries.sql(SHAPE, engine="direct", params=["350103"]).num_rows == 0  # its row filter
        rows = admin.queries.sql(SHAPE, engine="direct", params=["350103"]).to_pylist()
        assert [r["uscc"] for r in rows] == ["91350103MA2YQ2XX2B"]  # no row filter for the admin
        mine, theirs = (f.queries.plan(SHAPE, engine="direct", params=1)[0] for f in (analyst, admin))
        assert mine is not theirs and mine.row_filtered and not theirs.row_filtered


@pytest.mark.postgres
def test_a_grant_or_mask_change_applies_to_the_very_next_call(world: Any) -> None:
    from govfabric.errors import AccessDenied

    admin, _ = world
    by_uscc, one = "SELECT uscc, name, district FROM market.ent WHERE uscc = ?", ["91350102MA2YQ1XX1A"]
    admin.add_principal("analyst2", ["analyst"], department="发展改革委")
    g = admin.access.grant("analyst2", "market.ent")
    other = admin.as_user("analyst2")
    assert other.queries.sql(by_uscc, engine="direct", params=one).to_pylist()[0]["district"] == "350102"
    admin.access.set_mask("market.ent", "district", "hash", {"salt": "s"})  # a keyed mask: its key is a literal
    try:
        rows = other.queries.sql(by_uscc, engine="direct", params=one).to_pylist()
        assert rows == other.queries.sql(by_uscc, engine="duckdb", params=one).to_pylist()
        assert len(rows[0]["district"]) == 64
        assert other.queries.sql(SHAPE, engine="direct", params=["350102"]).num_rows == 0  # filters see the mask
    finally:
        admin.access.remove_mask("market.ent", "district")
    assert other.queries.sql(by_uscc, engine="direct", params=one).to_pylist()[0]["district"] == "350102"
    admin.access.revoke(g.id, "test")
    with pytest.raises(AccessDenied):
        other.queries.sql(by_uscc, engine="direct", params=one)


@pytest.mark.postgres
def test_query_service_calls_with_new_values_do_not_plan_again(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    admin, analyst = world
    admin.query_api.create("ent_shape", "market.ent", params={"uscc": ["eq"]}, columns=["name", "phone"],
                           order=["uscc"])
    analyst.query_api.call("ent_shape", {"uscc": ["91350102MA2YQ1XX1A"]})
    calls = _count_plans(monkeypatch)
    got = [analyst.query_api.call("ent_shape", {"uscc": [u]}).rows
           for u in ("91350102MA2YQ3XX3C", "91350102MA2YQ4XX4D", "91350103MA2YQ2XX2B")]
    assert calls == []
    assert [len(r) for r in got] == [1, 1, 0]  # the last one is outside the analyst's row filter
