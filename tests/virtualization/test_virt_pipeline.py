"""The pipeline's API: what a plan reports, the SQL it emits per engine, dialects, and a
physical change absorbed by the mapping."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest
from sqlglot import exp
from virt_world import ANALYST, ENTERPRISE, NARROW, PERSON, STEWARD, VIEWS, load_duckdb, plan_one_grant, resolver

from govfabric.errors import AccessDenied, QueryRejected
from govfabric.virtualization.pipeline import plan
from govfabric.virtualization.policy import (
    GrantPart,
    MappingResolver,
    MaskSpec,
    TableGrant,
    VirtualColumn,
    VirtualTable,
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    load_duckdb(c)
    return c


def test_plan_reports_usage() -> None:
    p = plan(
        "SELECT e.enterprise_name, p.id_number FROM market.enterprise e JOIN security.person p "
        "ON e.district = p.district",
        resolver=resolver(),
        policy=ANALYST,
        keep_virtual=True,
    )
    assert p.tables_used == ("market.enterprise", "security.person")
    assert p.columns_used == {
        "market.enterprise": ("district", "enterprise_name"),
        "security.person": ("district", "id_number"),
    }
    assert p.masked_columns == {"security.person": ("id_number",)}
    assert p.row_filtered == ("security.person",)
    assert p.output_columns == ("enterprise_name", "id_number")
    assert p.virtual_expression is not None and "market" in p.virtual_expression.sql()
    assert "t_qy_jbxx" not in p.virtual_expression.sql()


def test_views_used_and_derived_table_prunes_columns() -> None:
    p = plan("SELECT * FROM stats.big_names", resolver=resolver(), policy=ANALYST)
    assert p.views_used == ("stats.big_names", "stats.big_enterprise")
    assert p.columns_used == {"market.enterprise": ("capital", "enterprise_name")}
    inner = (
        'SELECT "qymc" AS "enterprise_name", CAST("zczb" AS DECIMAL(18, 2)) AS "capital" '
        'FROM "memory"."main"."t_qy_jbxx"'
    )
    assert inner in p.sql


def test_trino_sql_text() -> None:
    p = plan(
        "SELECT district, count(*) AS n FROM security.person WHERE id_number LIKE '11%' GROUP BY district",
        engine="trino",
        resolver=resolver(),
        policy=ANALYST,
    )
    assert p.sql.startswith(
        'SELECT "_0"."district" AS "district", COUNT(*) AS "n" FROM (SELECT CASE WHEN "sfzhm"'
    )
    assert "SUBSTR(\"sfzhm\", 1, 6) || LPAD('', CAST(LENGTH(\"sfzhm\") - 10 AS INTEGER), '*')" in p.sql
    assert p.sql.endswith(
        'FROM "memory"."default"."t_rk_jbxx" WHERE ("qx" = \'海淀区\')) AS "_0" '
        'WHERE "_0"."id_number" LIKE \'11%\' GROUP BY "_0"."district"'
    )


def test_trino_sql_for_duckdb_division_and_qualify() -> None:
    p = plan(
        "SELECT capital / 2 AS half FROM market.enterprise",
        engine="trino",
        resolver=resolver(),
        policy=STEWARD,
    )
    assert 'CAST("_0"."capital" AS DOUBLE) / 2' in p.sql
    q = plan(
        "SELECT district FROM (SELECT district, row_number() OVER (ORDER BY district) AS rn "
        "FROM market.enterprise QUALIFY rn = 1) t",
        engine="trino",
        resolver=resolver(),
        policy=STEWARD,
    )
    assert "QUALIFY" not in q.sql
    assert q.sql.endswith('AS _t WHERE _w = 1) AS "_1"')


def test_unknown_engine_and_missing_physical() -> None:
    with pytest.raises(QueryRejected, match="unknown engine"):
        plan("SELECT 1", engine="spark", resolver=resolver(), policy=ANALYST)
    only_duck = dataclasses.replace(ENTERPRISE, physical={"duckdb": ENTERPRISE.physical["duckdb"]})
    r = MappingResolver([only_duck])
    with pytest.raises(QueryRejected, match="not available on the trino engine"):
        plan("SELECT district FROM market.enterprise", engine="trino", resolver=r, policy=STEWARD)


SAME_QUERY = {
    "duckdb": "SELECT district, count(*) AS n FROM market.enterprise WHERE founded >= DATE '2013-01-01' "
    "GROUP BY district ORDER BY n DESC, district LIMIT 2",
    "mysql": "SELECT `district`, COUNT(*) AS n FROM market.enterprise WHERE founded >= '2013-01-01' "
    "GROUP BY `district` ORDER BY n DESC, `district` LIMIT 2",
    "postgres": "SELECT district, count(*) AS n FROM market.enterprise WHERE founded >= '2013-01-01'::date "
    "GROUP BY district ORDER BY n DESC, district LIMIT 2",
    "oracle": "SELECT district, COUNT(*) AS n FROM market.enterprise WHERE founded >= DATE '2013-01-01' "
    "GROUP BY district ORDER BY n DESC, district FETCH FIRST 2 ROWS ONLY",
    "tsql": "SELECT TOP 2 [district], COUNT(*) AS n FROM market.enterprise "
    "WHERE founded >= CAST('2013-01-01' AS DATE) GROUP BY [district] ORDER BY n DESC, [district]",
}


@pytest.mark.parametrize("dialect", sorted(SAME_QUERY))
def test_dialects_give_the_same_rows(con: duckdb.DuckDBPyConnection, dialect: str) -> None:
    p = plan(SAME_QUERY[dialect], dialect=dialect, resolver=resolver(), policy=STEWARD)
    assert con.execute(p.sql).fetchall() == [("海淀区", 2), ("朝阳区", 1)]


def test_physical_rename_is_absorbed_by_the_mapping(con: duckdb.DuckDBPyConnection) -> None:
    query = "SELECT enterprise_name, capital FROM market.enterprise ORDER BY capital DESC LIMIT 2"
    before = con.execute(plan(query, resolver=resolver(), policy=STEWARD).sql).fetchall()
    # the source renames qymc → qy_mc and re-harvests into a new table: only the mapping changes
    con.execute(
        "CREATE TABLE memory.main.t_qy_jbxx_v2 AS SELECT * RENAME (qymc AS qy_mc) FROM memory.main.t_qy_jbxx"
    )
    cols = tuple(
        VirtualColumn("enterprise_name", physical="qy_mc") if c.name == "enterprise_name" else c
        for c in ENTERPRISE.columns
    )
    moved = dataclasses.replace(
        ENTERPRISE, columns=cols, physical={"duckdb": ("memory", "main", "t_qy_jbxx_v2")}
    )
    after_sql = plan(query, resolver=MappingResolver([moved, PERSON, *VIEWS]), policy=STEWARD).sql
    assert "qy_mc" in after_sql
    assert con.execute(after_sql).fetchall() == before
    with pytest.raises(duckdb.BinderException):  # the old mapping no longer fits the new table
        con.execute(plan(query, resolver=resolver(), policy=STEWARD).sql.replace("t_qy_jbxx", "t_qy_jbxx_v2"))


def test_narrow_star_expands_to_granted_columns_only() -> None:
    p = plan("SELECT * FROM market.enterprise", resolver=resolver(), policy=NARROW)
    assert p.output_columns == ("enterprise_name",)
    assert p.columns_used == {"market.enterprise": ("enterprise_name",)}
    assert "\"qx\" = '朝阳区'" in p.sql  # the filter reads a column the user cannot see


#: A table whose virtual columns are its physical ones under the same names (like TPC-H's 1:1
#: mapping), with one hidden column the physical table still holds.
SAME = VirtualTable(
    name="plain.account",
    physical={"duckdb": ("memory", "main", "account"), "trino": ("memory", "default", "account")},
    columns=(
        VirtualColumn("id", physical="id", type="INTEGER"),
        VirtualColumn("region", physical="region"),
        VirtualColumn("phone", physical="phone"),
        VirtualColumn("note", expr="upper(region)"),
        VirtualColumn("secret", physical="secret", hidden=True),
    ),
)
SAME_POLICIES = {
    "open": TableGrant(),
    "narrow": TableGrant(columns=frozenset({"id", "region"})),
    "masked": TableGrant(masks={"phone": MaskSpec("mobile")}),
    "lifted": TableGrant(parts=(GrantPart(unmasked=frozenset({"phone"})),), masks={"phone": MaskSpec("mobile")}),
    "filtered": TableGrant(row_filters=("region = 'north'",)),
    "two_parts": TableGrant(parts=(GrantPart(columns=frozenset({"id"})),
                                   GrantPart(columns=frozenset({"id", "region"}), row_filter="id > 1"))),
}


@pytest.fixture(scope="module")
def same_con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE TABLE memory.main.account (id INTEGER, region VARCHAR, phone VARCHAR, secret VARCHAR)")
    c.execute("INSERT INTO memory.main.account VALUES (1, 'north', '13812345678', 's1'), "
              "(2, 'south', '13987654321', 's2')")
    return c


def _same_plan(grant: str, sql: str, engine: str = "duckdb"):  # type: ignore[no-untyped-def]
    return plan_one_grant(SAME, SAME_POLICIES[grant], sql, engine, principal=grant)


@pytest.mark.parametrize("engine", ["duckdb", "trino"])
@pytest.mark.parametrize("grant", ["open", "narrow", "lifted"])
def test_unrestricted_grant_reads_the_bare_table(grant: str, engine: str, same_con: duckdb.DuckDBPyConnection) -> None:
    """Nothing to rewrite (no mask, filter or rename): the physical table itself, no projection
    subquery (it costs DuckDB optimisations: TPC-H Q11 ×1.9)."""
    p = _same_plan(grant, "SELECT a.region, count(*) AS n FROM plain.account a GROUP BY a.region "
                   "HAVING count(*) > (SELECT count(*) / 10 FROM plain.account)", engine)
    assert p.expression is not None and not list(p.expression.find_all(exp.Subquery))[1:]  # only the HAVING's
    assert "(SELECT" not in p.sql.replace("> (SELECT", "")
    assert '"memory"."main"."account" AS "_' in p.sql or engine == "trino"
    if engine == "duckdb":
        assert sorted(same_con.execute(p.sql).fetchall()) == [("north", 1), ("south", 1)]


def test_bare_table_keeps_the_column_restriction(same_con: duckdb.DuckDBPyConnection) -> None:
    """A bare table under a narrower grant: stars expand to the granted columns, others are refused."""
    p = _same_plan("narrow", "SELECT * FROM plain.account ORDER BY id")
    assert "(SELECT" not in p.sql
    assert same_con.execute(p.sql).fetchall() == [(1, "north"), (2, "south")]
    for sql in ("SELECT phone FROM plain.account", "SELECT secret FROM plain.account",
                "SELECT a FROM plain.account a", "SELECT rowid FROM plain.account"):
        with pytest.raises((AccessDenied, QueryRejected)):
            _same_plan("narrow", sql)
    with pytest.raises((AccessDenied, QueryRejected)):
        _same_plan("open", "SELECT secret FROM plain.account")


@pytest.mark.parametrize(
    ("grant", "sql", "rows"),
    [
        ("masked", "SELECT id, phone FROM plain.account ORDER BY id", [(1, "138****5678"), (2, "139****4321")]),
        ("filtered", "SELECT id FROM plain.account", [(1,)]),
        ("two_parts", "SELECT id, region FROM plain.account ORDER BY id", [(1, None), (2, "south")]),
        ("open", "SELECT id, note FROM plain.account ORDER BY id", [(1, "NORTH"), (2, "SOUTH")]),
    ],
)
def test_rewritten_grant_keeps_its_projection_subquery(
    grant: str, sql: str, rows: list[tuple], same_con: duckdb.DuckDBPyConnection
) -> None:
    """A mask, a row filter, a per-part column or a computed column still go through the derived table."""
    p = _same_plan(grant, sql)
    assert 'FROM (SELECT ' in p.sql and ' FROM "memory"."main"."account") AS "_0"' in p.sql.replace(
        " WHERE (\"region\" = 'north')", "")
    assert same_con.execute(p.sql).fetchall() == rows
