"""The small world the pipeline tests run in: physical tables (Chinese data), the virtual
catalog over them and the principals' policies.

An engine fixture must hold the physical tables under the references in ``PHYSICAL`` (for
DuckDB: ``memory.main.<table>`` in an in-memory database, created by ``load_duckdb``); a Trino
engine loads the same ``TABLES`` rows into its catalog and maps the same virtual names.
"""

from __future__ import annotations

import datetime as dt

from govfabric.virtualization.pipeline import PlannedQuery, plan
from govfabric.virtualization.policy import (
    MappingResolver,
    MaskSpec,
    Policy,
    TableGrant,
    VirtualColumn,
    VirtualTable,
    VirtualView,
)

D = dt.date

#: Physical tables: name → (column DDL types, rows).
TABLES: dict[str, tuple[dict[str, str], list[tuple]]] = {
    "t_qy_jbxx": (
        {
            "tyshxydm": "VARCHAR",
            "qymc": "VARCHAR",
            "fddbr": "VARCHAR",
            "zczb": "VARCHAR",
            "qx": "VARCHAR",
            "clrq": "DATE",
            "nbbz": "VARCHAR",
        },
        [
            (
                "91110108MA01AAAA1X",
                "北京云数科技有限公司",
                "张伟",
                "1000.50",
                "海淀区",
                D(2015, 3, 1),
                "内部A",
            ),
            (
                "91110105MA02BBBB2Y",
                "朝阳餐饮管理有限公司",
                "欧阳娜娜",
                "200",
                "朝阳区",
                D(2018, 7, 15),
                "内部B",
            ),
            ("91110108MA03CCCC3Z", "海淀智造有限公司", "司马光明", "5000", "海淀区", D(2020, 1, 10), "内部C"),
            (
                "91110101MA04DDDD4W",
                "东城文化传媒有限公司",
                "李娜",
                "80.25",
                "东城区",
                D(2012, 11, 30),
                "内部D",
            ),
        ],
    ),
    "t_rk_jbxx": (
        {
            "sfzhm": "VARCHAR",
            "xm": "VARCHAR",
            "sjhm": "VARCHAR",
            "dz": "VARCHAR",
            "yx": "VARCHAR",
            "csrq": "DATE",
            "yhkh": "VARCHAR",
            "qx": "VARCHAR",
            "gz": "INTEGER",
        },
        [
            (
                "110108199001011234",
                "张伟",
                "13812345678",
                "北京市海淀区中关村大街1号",
                "zhangwei@example.cn",
                D(1990, 1, 1),
                "6222021234567890123",
                "海淀区",
                12000,
            ),
            (
                "110105198505052345",
                "欧阳娜娜",
                "13987654321",
                "北京市朝阳区建国路88号",
                "ouyang@example.cn",
                D(1985, 5, 5),
                "6228480012345678",
                "朝阳区",
                15000,
            ),
            (
                "110108200012123456",
                "王小明",
                "15011112222",
                "北京市海淀区学院路5号院",
                "xm@example.cn",
                D(2000, 12, 12),
                "6217001234567890",
                "海淀区",
                9000,
            ),
            (
                "44030519920202456X",
                "诸葛亮",
                "18600001111",
                "广东省深圳市南山区科技园10栋",
                None,
                D(1992, 2, 2),
                None,
                "海淀区",
                None,
            ),
        ],
    ),
}

PHYSICAL = {name: ("memory", "main", name) for name in TABLES}


def _phys(name: str) -> dict[str, tuple[str, str, str]]:
    # the same reference shape on every engine; a Trino fixture maps its own catalog
    return {"duckdb": PHYSICAL[name], "trino": ("memory", "default", name)}


ENTERPRISE = VirtualTable(
    name="market.enterprise",
    physical=_phys("t_qy_jbxx"),
    columns=(
        VirtualColumn("credit_code", physical="tyshxydm"),
        VirtualColumn("enterprise_name", physical="qymc"),
        VirtualColumn("legal_rep", physical="fddbr"),
        VirtualColumn("capital", expr="CAST(zczb AS DECIMAL(18, 2))", type="DECIMAL(18, 2)"),
        VirtualColumn("district", physical="qx"),
        VirtualColumn("founded", physical="clrq", type="DATE"),
        VirtualColumn("internal_flag", physical="nbbz", hidden=True),
    ),
)

PERSON = VirtualTable(
    name="security.person",
    physical=_phys("t_rk_jbxx"),
    columns=(
        VirtualColumn("id_number", physical="sfzhm"),
        VirtualColumn("name", physical="xm"),
        VirtualColumn("mobile", physical="sjhm"),
        VirtualColumn("address", physical="dz"),
        VirtualColumn("email", physical="yx"),
        VirtualColumn("birth_date", physical="csrq", type="DATE"),
        VirtualColumn("bank_card", physical="yhkh"),
        VirtualColumn("district", physical="qx"),
        VirtualColumn("salary", physical="gz", type="INTEGER", hidden=True),
    ),
)

VIEWS = (
    VirtualView("stats.enterprise_by_district",
                "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district"),
    VirtualView("stats.big_enterprise",
                "SELECT enterprise_name, capital FROM market.enterprise WHERE capital >= 1000"),
    VirtualView("stats.big_names", "SELECT enterprise_name FROM stats.big_enterprise"),
    VirtualView("stats.person_view", "SELECT name, id_number, district FROM security.person"),
    VirtualView("stats.loop_a", "SELECT * FROM stats.loop_b"),
    VirtualView("stats.loop_b", "SELECT * FROM stats.loop_a"),
    VirtualView("stats.self_loop", "SELECT * FROM stats.self_loop"),
    VirtualView("stats.hostile_view", "SELECT * FROM read_csv('/etc/passwd')"),
    VirtualView("stats.mysql_view",
                "SELECT `enterprise_name` FROM market.enterprise WHERE district = '东城区'", dialect="mysql"),
    VirtualView("stats.secret_view", "SELECT internal_flag FROM market.enterprise"),
)  # fmt: skip


def resolver() -> MappingResolver:
    return MappingResolver([ENTERPRISE, PERSON, *VIEWS])


ANALYST = Policy(
    principal="analyst1",
    attributes={"region": "海淀区"},
    tables={
        "market.enterprise": TableGrant(
            columns=frozenset({"credit_code", "enterprise_name", "capital", "district", "founded"}),
            masks={"legal_rep": MaskSpec("cn_name")},
        ),
        "security.person": TableGrant(
            columns=frozenset({"name", "district", "birth_date"}),
            masks={
                "id_number": MaskSpec("resident_id"),
                "name": MaskSpec("cn_name"),
                "mobile": MaskSpec("mobile"),
                "address": MaskSpec("address"),
                "email": MaskSpec("email"),
                "bank_card": MaskSpec("bank_card"),
            },
            row_filters=("district = principal_attr('region')",),
        ),
    },
)

#: One table, one column, a fixed row filter.
NARROW = Policy(
    principal="narrow1",
    tables={
        "market.enterprise": TableGrant(
            columns=frozenset({"enterprise_name"}), row_filters=("district = '朝阳区'",)
        )
    },
)

#: Everything visible in clear (a steward).
STEWARD = Policy(
    principal="steward1",
    tables={"market.enterprise": TableGrant(), "security.person": TableGrant()},
)

#: No grants at all.
NOBODY = Policy(principal="nobody")

#: A row filter needing an attribute the principal lacks.
NO_REGION = Policy(
    principal="noregion",
    tables={
        "security.person": TableGrant(
            columns=frozenset({"district"}), row_filters=("district = :principal.region",)
        )
    },
)

POLICIES = {"analyst": ANALYST, "narrow": NARROW, "steward": STEWARD, "nobody": NOBODY, "noregion": NO_REGION}


def plan_one_grant(vt: VirtualTable, grant: TableGrant, sql: str, engine: str = "duckdb",
                   principal: str = "p") -> PlannedQuery:
    """Plan ``sql`` over the one table ``vt`` for a principal holding only ``grant`` on it: the rewrite
    alone, no workspace (the grants, grants-property and pipeline tests' setup)."""
    return plan(sql, resolver=MappingResolver([vt]), policy=Policy(principal, {vt.name: grant}), engine=engine)


def load_duckdb(con) -> None:  # type: ignore[no-untyped-def]
    """Create the physical tables in a DuckDB connection (``memory.main``)."""
    for name, (cols, rows) in TABLES.items():
        ddl = ", ".join(f'"{c}" {t}' for c, t in cols.items())
        con.execute(f'CREATE TABLE memory.main."{name}" ({ddl})')
        marks = ", ".join("?" for _ in cols)
        # names and types are this module's constants; values go as parameters
        con.executemany(f'INSERT INTO memory.main."{name}" VALUES ({marks})', rows)
