"""The policy and hostile-SQL suite as data: each case runs on every engine fixture.

``Case(id, sql, expect)`` with ``expect`` either ``Rows([...])`` (exact rows; compared as a
multiset unless ``ordered=True``) or ``Rejected("fragment", error)`` (the error type and a
fragment of its message). ``policy`` names a principal in ``virt_world.POLICIES``; ``dialect``
is the sqlglot dialect the user writes in. An engine fixture only has to plan with its
engine name and run the SQL; see ``test_virt_cases.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from govfabric.errors import AccessDenied, GovfabricError, QueryRejected


@dataclass(frozen=True)
class Rows:
    rows: list[tuple]
    ordered: bool = False


@dataclass(frozen=True)
class Rejected:
    fragment: str
    error: type[GovfabricError] = QueryRejected


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    expect: Rows | Rejected
    policy: str = "analyst"
    dialect: str = "duckdb"
    tags: tuple[str, ...] = field(default=())


def R(id: str, sql: str, fragment: str, **kw) -> Case:
    return Case(id, sql, Rejected(fragment), **kw)


def D(id: str, sql: str, fragment: str, **kw) -> Case:
    return Case(id, sql, Rejected(fragment, AccessDenied), **kw)


def OK(id: str, sql: str, rows: list[tuple], ordered: bool = False, **kw) -> Case:
    return Case(id, sql, Rows(rows, ordered), **kw)


TF = "table functions are not allowed"
FP = "file paths are not tables"
UNK = "unknown table"
SYS = "system catalog"
ONLY = "only SELECT"
NOTU = "not understood or not allowed"
FN = "allow-list of functions"
UNRES = "check the column names"
THREE = "three-part (physical) name"
DEEP = "nest"

# what the analyst sees of security.person (row filter: district = 海淀区; masks)
MASKED_IDS = [("110108********1234",), ("110108********3456",), ("440305********456X",)]

FILE_AND_TABLE_FUNCTIONS = [
    R("file-literal", "SELECT * FROM '/etc/passwd'", FP),
    R("file-from-first", "FROM 'data.csv'", FP),
    R("file-relative", "SELECT * FROM 'secret.parquet'", FP),
    R("file-windows", "SELECT * FROM 'C:\\secret.csv'", FP),
    R("file-url", "SELECT * FROM 'https://example.org/x.csv'", FP),
    R("read-csv", "SELECT * FROM read_csv('/etc/passwd')", TF),
    R("read-csv-auto", "SELECT * FROM read_csv_auto('/etc/passwd')", TF),
    R("read-parquet", "SELECT * FROM read_parquet('x.parquet')", TF),
    R("read-json", "SELECT * FROM read_json('x.json')", TF),
    R("read-text", "SELECT content FROM read_text('/etc/passwd')", TF),
    R("read-blob", "SELECT * FROM read_blob('/etc/shadow')", TF),
    R("query-fn", "SELECT * FROM query('SELECT * FROM memory.main.t_rk_jbxx')", TF),
    R("query-table-fn", "SELECT * FROM query_table('t_rk_jbxx')", TF),
    R("glob", "SELECT * FROM glob('/*')", TF),
    R("range", "SELECT * FROM range(10)", TF),
    R("generate-series", "SELECT * FROM generate_series(1, 10)", TF),
    R("sniff-csv", "SELECT * FROM sniff_csv('/etc/passwd')", TF),
    R("parquet-metadata", "SELECT * FROM parquet_metadata('x.parquet')", TF),
    R("iceberg-scan", "SELECT * FROM iceberg_scan('s3://x')", TF),
    R("postgres-scan", "SELECT * FROM postgres_scan('host=x', 'public', 't')", TF),
    R("sqlite-scan", "SELECT * FROM sqlite_scan('x.db', 't')", TF),
    # the PII scan's sampler sends its own query to a PostgreSQL source whole (``postgres_query`` on
    # the engine's attached catalog): users must not reach that, nor its MySQL twin
    R("postgres-query", "SELECT * FROM postgres_query('src_pg', 'SELECT * FROM pg_shadow')", TF),
    R("postgres-query-in-cte", "WITH x AS (SELECT * FROM postgres_query('src_pg', 'SELECT 1')) SELECT * FROM x", TF),
    R("mysql-query", "SELECT * FROM mysql_query('src_my', 'SELECT * FROM mysql.user')", TF),
    R("postgres-execute", "CALL postgres_execute('src_pg', 'DROP TABLE t')", NOTU),
    R("table-fn-in-join", "SELECT * FROM market.enterprise e JOIN read_csv('/etc/passwd') f ON true", TF),
    R("table-fn-in-subquery", "SELECT (SELECT count(*) FROM read_text('/etc/passwd'))", TF),
    R("table-fn-in-cte", "WITH f AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM f", TF),
    R("table-fn-lateral", "SELECT * FROM market.enterprise, LATERAL read_csv('/x')", "LATERAL"),
    R("unnest-table", "SELECT * FROM unnest([1, 2, 3])", FN),
    R("mysql-load-file", "SELECT LOAD_FILE('/etc/passwd')", FN, dialect="mysql"),
    R("pg-read-file", "SELECT pg_read_file('/etc/passwd')", FN, dialect="postgres"),
    R("tsql-openrowset", "SELECT * FROM OPENROWSET(BULK 'c:\\x.txt', SINGLE_CLOB) AS x", "", dialect="tsql"),
]

METADATA = [
    R("getenv", "SELECT getenv('HOME')", FN),
    R("current-setting", "SELECT current_setting('threads')", FN),
    R("version", "SELECT version()", "not"),
    R("current-user", "SELECT current_user", "not"),
    R("current-database", "SELECT current_database()", "not"),
    R("current-schema", "SELECT current_schema()", "not"),
    R("duckdb-settings-scalar", "SELECT duckdb_settings()", FN),
    R("duckdb-settings", "SELECT * FROM duckdb_settings()", TF),
    R("duckdb-tables", "SELECT * FROM duckdb_tables()", TF),
    R("duckdb-extensions", "SELECT * FROM duckdb_extensions()", TF),
    R("duckdb-databases", "SELECT * FROM duckdb_databases()", TF),
    R("pragma-table-info", "SELECT * FROM pragma_table_info('t_rk_jbxx')", TF),
    R("sqlite-master", "SELECT * FROM sqlite_master", UNK),
    R("information-schema-tables", "SELECT * FROM information_schema.tables", SYS),
    R("information-schema-columns", "SELECT column_name FROM information_schema.columns", SYS),
    R("pg-catalog", "SELECT * FROM pg_catalog.pg_tables", SYS),
    R("duckdb-views-schema", "SELECT * FROM main.duckdb_views", SYS),
    R("trino-system-nodes", "SELECT * FROM system.runtime.nodes", THREE, dialect="trino"),
    R("trino-system-queries", "SELECT query FROM system.runtime.queries", THREE, dialect="trino"),
    R("trino-system-catalogs", "SELECT * FROM system.metadata.catalogs", THREE, dialect="trino"),
    R("trino-jdbc-tables", "SELECT * FROM system.jdbc.tables", THREE, dialect="trino"),
    R("trino-information-schema", "SELECT * FROM memory.information_schema.tables", THREE, dialect="trino"),
    R("trino-table-query", "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))", TF, dialect="trino"),
    R(
        "trino-table-query-catalog",
        "SELECT * FROM TABLE(postgres.system.query(query => 'SELECT 1'))",
        TF,
        dialect="trino",
    ),
    R(
        "trino-exclude-columns",
        "SELECT * FROM TABLE(exclude_columns(input => TABLE(market.enterprise), "
        "columns => DESCRIPTOR(district)))",
        TF,
        dialect="trino",
    ),
    R("trino-hidden-table", 'SELECT * FROM market."enterprise$properties"', UNK, dialect="trino"),
    R("trino-show-catalogs", "SHOW CATALOGS", "", dialect="trino"),
    R("trino-system-schema-2part", "SELECT * FROM runtime.nodes", UNK, dialect="trino"),
]

STATEMENTS = [
    R("pragma", "PRAGMA database_list", ONLY),
    R("attach", "ATTACH 'x.db' AS x", ONLY),
    R("detach", "DETACH memory", ""),
    R("set", "SET enable_external_access = true", ONLY),
    R("reset", "RESET threads", ""),
    R("copy-to", "COPY (SELECT 1) TO '/tmp/x.csv'", ONLY),
    R("copy-from", "COPY market.enterprise FROM '/etc/passwd'", ONLY),
    R("export", "EXPORT DATABASE '/tmp/x'", ""),
    R("install", "INSTALL httpfs", ONLY),
    R("load", "LOAD httpfs", NOTU),
    R("call", "CALL dbgen(sf = 1)", NOTU),
    R("ctas", "CREATE TABLE x AS SELECT 1", ONLY),
    R("create-view", "CREATE VIEW v AS SELECT * FROM market.enterprise", ONLY),
    R("create-macro", "CREATE MACRO m(a) AS a + 1", ""),
    R("create-secret", "CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')", ""),
    R("drop", "DROP TABLE market.enterprise", ONLY),
    R("insert", "INSERT INTO market.enterprise (district) VALUES ('x')", ONLY),
    R("update", "UPDATE market.enterprise SET district = 'x'", ONLY),
    R("delete", "DELETE FROM market.enterprise", ONLY),
    R("use", "USE memory", ONLY),
    R("describe", "DESCRIBE market.enterprise", ONLY),
    R("show-tables", "SHOW TABLES", ""),
    R("explain", "EXPLAIN SELECT 1", NOTU),
    R("summarize", "SUMMARIZE market.enterprise", ""),
    R("checkpoint", "CHECKPOINT", ""),
    R("begin", "BEGIN TRANSACTION", ""),
    R("two-selects", "SELECT 1; SELECT 2", "exactly one statement"),
    R("select-then-drop", "SELECT 1; DROP TABLE x", "exactly one statement"),
    R("comment-smuggle", "SELECT 1 /* x */; DROP TABLE x; -- */", "exactly one statement"),
    R("select-into", "SELECT * INTO newt FROM market.enterprise", "INTO", dialect="postgres"),
    R("mysql-into-outfile", "SELECT 1 INTO OUTFILE '/tmp/x'", "", dialect="mysql"),
    R("pg-copy-program", "COPY x FROM PROGRAM 'id'", "", dialect="postgres"),
    R("sqlite-attach", "ATTACH DATABASE '/tmp/x.db' AS x", "", dialect="sqlite"),
    R("grant", "GRANT SELECT ON market.enterprise TO analyst1", ""),
    R("alter", "ALTER TABLE market.enterprise ADD COLUMN x INT", ONLY),
    R("vacuum", "VACUUM", ""),
    R("empty", "", "exactly one statement"),
    R("only-comment", "-- nothing", "exactly one statement"),
]

NAMES = [
    R("physical-3part", "SELECT * FROM memory.main.t_qy_jbxx", THREE),
    R("physical-3part-quoted", 'SELECT * FROM "memory"."main"."t_rk_jbxx"', THREE),
    R("physical-2part", "SELECT * FROM main.t_qy_jbxx", UNK),
    R("physical-1part", "SELECT * FROM t_qy_jbxx", UNK),
    R("physical-in-subquery", "SELECT (SELECT count(*) FROM t_rk_jbxx)", UNK),
    R("physical-in-join", "SELECT * FROM market.enterprise JOIN memory.main.t_rk_jbxx ON true", THREE),
    R("typo-suggests", "SELECT * FROM market.enterprize", "did you mean market.enterprise"),
    R("unknown-schema", "SELECT * FROM nowhere.enterprise", UNK),
    R("physical-column", "SELECT e.qymc FROM market.enterprise e", UNRES),
    R("physical-column-quoted", 'SELECT "fddbr" FROM market.enterprise', UNRES),
    R("spark-file-table", "SELECT * FROM csv.`/etc/passwd`", UNK, dialect="spark"),
    R("column-alias-list", "SELECT * FROM market.enterprise AS e(a, b, c)", "column aliases"),
    OK(
        "case-insensitive",
        "SELECT ENTERPRISE_NAME FROM MARKET.ENTERPRISE",
        [("朝阳餐饮管理有限公司",)],
        policy="narrow",
    ),
    OK(
        "quoted-virtual",
        'SELECT "enterprise_name" FROM "market"."enterprise"',
        [("朝阳餐饮管理有限公司",)],
        policy="narrow",
    ),
    OK(
        "comment-stripped",
        "SELECT enterprise_name FROM market.enterprise -- ; DROP TABLE x",
        [("朝阳餐饮管理有限公司",)],
        policy="narrow",
    ),
    OK("string-literal-injection", "SELECT 'x''; DROP TABLE t; --' AS s", [("x'; DROP TABLE t; --",)]),
    OK("no-table", "SELECT 1 + 1 AS two", [(2,)]),
]

SHADOWING = [
    OK("cte-shadows-physical", "WITH t_qy_jbxx AS (SELECT 1 AS a) SELECT a FROM t_qy_jbxx", [(1,)]),
    OK(
        "cte-shadows-virtual-short",
        "WITH enterprise AS (SELECT 'fake' AS enterprise_name) SELECT enterprise_name FROM enterprise",
        [("fake",)],
    ),
    OK(
        "cte-named-like-virtual",
        'WITH "market.enterprise" AS (SELECT 1 AS a) SELECT a FROM "market.enterprise"',
        [(1,)],
    ),
    OK(
        "cte-over-virtual-masked",
        "WITH x AS (SELECT * FROM market.enterprise) SELECT legal_rep FROM x WHERE legal_rep LIKE '欧阳%'",
        [("欧阳**",)],
    ),
    OK(
        "cte-shadow-then-reference",
        "WITH enterprise AS (SELECT enterprise_name FROM market.enterprise) SELECT count(*) FROM enterprise",
        [(1,)],
        policy="narrow",
    ),
    R(
        "cte-hidden-column",
        "WITH x AS (SELECT internal_flag FROM market.enterprise) SELECT * FROM x",
        UNRES,
        policy="steward",
    ),
    R("cte-forward-reference", "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a", UNK),
    R("cte-self-reference", "WITH t AS (SELECT * FROM t) SELECT * FROM t", UNK),
    R(
        "cte-recursive",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
        "recursive",
    ),
    R(
        "cte-out-of-scope",
        "SELECT * FROM (WITH t_qy_jbxx AS (SELECT 1 AS a) SELECT a FROM t_qy_jbxx) s, t_qy_jbxx",
        UNK,
    ),
    R(
        "cte-shadow-physical-in-view-scope",
        "WITH t_qy_jbxx AS (SELECT 1 AS a) SELECT * FROM memory.main.t_qy_jbxx",
        THREE,
    ),
    R(
        "cte-materialized",
        "WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT * FROM x",
        "MATERIALIZED",
        dialect="postgres",
    ),
]

SUBQUERIES = [
    R(
        "scalar-subquery-hidden",
        "SELECT (SELECT max(internal_flag) FROM market.enterprise)",
        UNRES,
        policy="steward",
    ),
    R(
        "exists-hidden",
        "SELECT enterprise_name FROM market.enterprise e WHERE EXISTS "
        "(SELECT 1 FROM security.person p WHERE p.salary > 10000)",
        UNRES,
        policy="steward",
    ),
    D(
        "correlated-not-granted",
        "SELECT enterprise_name FROM market.enterprise e WHERE EXISTS "
        "(SELECT 1 FROM market.enterprise x WHERE x.district = e.district)",
        "district",
        policy="narrow",
    ),
    OK(
        "lateral-filtered",
        "SELECT e.enterprise_name, l.n FROM market.enterprise e, LATERAL "
        "(SELECT count(*) AS n FROM security.person p WHERE p.district = e.district) l",
        [
            ("北京云数科技有限公司", 3),
            ("朝阳餐饮管理有限公司", 0),
            ("海淀智造有限公司", 3),
            ("东城文化传媒有限公司", 0),
        ],
    ),
    OK("subquery-bypass-filter", "SELECT count(*) FROM (SELECT * FROM security.person) s", [(3,)]),
    OK("or-bypass-filter", "SELECT count(*) FROM security.person WHERE district = '朝阳区' OR 1 = 1", [(3,)]),
    OK("not-bypass-filter", "SELECT count(*) FROM security.person WHERE NOT district = '海淀区'", [(0,)]),
    OK(
        "in-subquery-masked",
        "SELECT count(*) FROM security.person WHERE id_number IN (SELECT '110108199001011234')",
        [(0,)],
    ),
    OK(
        "derived-count",
        "SELECT n FROM (SELECT count(*) AS n FROM market.enterprise) t",
        [(1,)],
        policy="narrow",
    ),
]

SET_OPERATIONS = [
    D(
        "union-smuggles-column",
        "SELECT enterprise_name FROM market.enterprise UNION ALL SELECT legal_rep FROM market.enterprise",
        "legal_rep",
        policy="narrow",
    ),
    OK(
        "union-masked-ids",
        "SELECT id_number FROM security.person UNION ALL SELECT 'mine'",
        [*MASKED_IDS, ("mine",)],
    ),
    OK("intersect-probe", "SELECT id_number FROM security.person INTERSECT SELECT '110108199001011234'", []),
    OK(
        "except-probe",
        "SELECT '110108199001011234' AS x EXCEPT SELECT id_number FROM security.person",
        [("110108199001011234",)],
    ),
    R(
        "union-by-name",
        "SELECT district FROM market.enterprise UNION BY NAME SELECT district FROM market.enterprise",
        "UNION BY NAME",
    ),
    OK(
        "union-distinct-district",
        "SELECT district FROM market.enterprise UNION SELECT district FROM security.person",
        [("海淀区",), ("朝阳区",), ("东城区",)],
    ),
]

MASKS_AND_FILTERS = [
    OK(
        "masked-eq-real-id",
        "SELECT count(*) FROM security.person WHERE id_number = '110108199001011234'",
        [(0,)],
    ),
    OK(
        "masked-like-real-prefix",
        "SELECT count(*) FROM security.person WHERE id_number LIKE '1101081990%'",
        [(0,)],
    ),
    OK(
        "masked-substring-birth",
        "SELECT count(*) FROM security.person WHERE substring(id_number, 7, 8) = '19900101'",
        [(0,)],
    ),
    OK("masked-length", "SELECT DISTINCT length(id_number) FROM security.person", [(18,)]),
    OK("masked-mobile-eq", "SELECT count(*) FROM security.person WHERE mobile = '13812345678'", [(0,)]),
    OK("masked-star", "SELECT id_number FROM security.person", MASKED_IDS),
    OK(
        "masked-join",
        "SELECT e.enterprise_name, p.name FROM market.enterprise e JOIN security.person p "
        "ON e.legal_rep = p.name",
        [("北京云数科技有限公司", "张*")],
    ),
    OK(
        "masked-group-by",
        "SELECT name, count(*) FROM security.person GROUP BY name",
        [("张*", 1), ("王**", 1), ("诸葛*", 1)],
    ),
    OK("masked-max", "SELECT max(mobile) FROM security.person", [("186****1111",)]),
    OK(
        "masked-order-leak",
        "SELECT name FROM security.person ORDER BY id_number",
        [("张*",), ("王**",), ("诸葛*",)],
        ordered=True,
    ),
    OK(
        "masked-address",
        "SELECT address FROM security.person ORDER BY address",
        [("北京市海淀区***",), ("北京市海淀区***",), ("广东省深圳市南山区***",)],
        ordered=True,
    ),
    OK(
        "masked-email-null",
        "SELECT email FROM security.person ORDER BY email NULLS LAST",
        [("x***@example.cn",), ("z***@example.cn",), (None,)],
        ordered=True,
    ),
    OK(
        "masked-bank-card",
        "SELECT bank_card FROM security.person WHERE bank_card IS NOT NULL ORDER BY 1",
        [("621700******7890",), ("622202*********0123",)],
        ordered=True,
    ),
    OK(
        "masked-visible-without-clear-grant",
        "SELECT legal_rep FROM market.enterprise ORDER BY credit_code",
        [("李*",), ("欧阳**",), ("张*",), ("司马**",)],
        ordered=True,
    ),
    OK("row-filter-principal-attr", "SELECT DISTINCT district FROM security.person", [("海淀区",)]),
    OK(
        "row-filter-case-other-district",
        "SELECT count(*) FROM security.person WHERE district = '朝阳区'",
        [(0,)],
    ),
    OK("row-filter-fixed", "SELECT * FROM market.enterprise", [("朝阳餐饮管理有限公司",)], policy="narrow"),
    OK("row-filter-count", "SELECT count(*) FROM market.enterprise", [(1,)], policy="narrow"),
    D(
        "filter-on-ungranted",
        "SELECT count(*) FROM market.enterprise WHERE district = '海淀区'",
        "district",
        policy="narrow",
    ),
    D(
        "select-ungranted",
        "SELECT district FROM market.enterprise",
        "market.enterprise.district",
        policy="narrow",
    ),
    D(
        "order-by-ungranted",
        "SELECT enterprise_name FROM market.enterprise ORDER BY founded",
        "founded",
        policy="narrow",
    ),
    D(
        "group-by-ungranted",
        "SELECT count(*) FROM market.enterprise GROUP BY capital",
        "capital",
        policy="narrow",
    ),
    D("no-grant", "SELECT * FROM market.enterprise", "no grant on market.enterprise", policy="nobody"),
    D(
        "no-grant-second-table",
        "SELECT count(*) FROM market.enterprise, security.person",
        "security.person",
        policy="narrow",
    ),
    D("no-grant-via-view", "SELECT * FROM stats.enterprise_by_district", "no grant", policy="nobody"),
    D(
        "missing-principal-attr",
        "SELECT district FROM security.person",
        "principal attribute 'region'",
        policy="noregion",
    ),
    R("hidden-column", "SELECT internal_flag FROM market.enterprise", UNRES, policy="steward"),
    R("hidden-salary", "SELECT avg(salary) FROM security.person", UNRES, policy="steward"),
    OK(
        "star-skips-hidden",
        "SELECT * FROM market.enterprise WHERE credit_code = '91110101MA04DDDD4W'",
        [("91110101MA04DDDD4W", "东城文化传媒有限公司", "李娜", 80.25, "东城区", dt.date(2012, 11, 30))],
        policy="steward",
    ),
    OK(
        "steward-sees-clear",
        "SELECT id_number FROM security.person WHERE name = '张伟'",
        [("110108199001011234",)],
        policy="steward",
    ),
]

VIEWS = [
    OK(
        "view-aggregate",
        "SELECT * FROM stats.enterprise_by_district",
        [("海淀区", 2), ("朝阳区", 1), ("东城区", 1)],
    ),
    OK("view-nested", "SELECT * FROM stats.big_names", [("北京云数科技有限公司",), ("海淀智造有限公司",)]),
    OK(
        "view-invoker-masks",
        "SELECT name, id_number FROM stats.person_view WHERE name LIKE '张%'",
        [("张*", "110108********1234")],
    ),
    OK("view-mysql-dialect", "SELECT * FROM stats.mysql_view", [("东城文化传媒有限公司",)]),
    D(
        "view-invoker-rights",
        "SELECT count(*) FROM stats.enterprise_by_district",
        "district",
        policy="narrow",
    ),
    D("view-filter-needs-grant", "SELECT count(*) FROM stats.mysql_view", "district", policy="narrow"),
    OK("view-steward", "SELECT * FROM stats.mysql_view", [("东城文化传媒有限公司",)], policy="steward"),
    R("view-hidden-column", "SELECT * FROM stats.secret_view", UNRES, policy="steward"),
    R("view-cycle", "SELECT * FROM stats.loop_a", "refers to itself"),
    R("view-self-cycle", "SELECT * FROM stats.self_loop", "refers to itself"),
    R("view-hostile-body", "SELECT * FROM stats.hostile_view", TF),
]

BOMBS = [
    R("deep-parens", "SELECT " + "(" * 200 + "1" + ")" * 200, DEEP),
    R("deep-subqueries", "SELECT * FROM " + "(SELECT * FROM " * 80 + "market.enterprise" + ") s" * 80, DEEP),
    R(
        "huge-in-list",
        "SELECT count(*) FROM market.enterprise WHERE enterprise_name IN ("
        + ", ".join(f"'{i}'" for i in range(30000))
        + ")",
        "characters",
    ),
    R(
        "many-nodes",
        "SELECT count(*) FROM market.enterprise WHERE enterprise_name IN ("
        + ", ".join(["1"] * 21000)
        + ")",
        "syntax nodes",
    ),
    R("long-sql", "SELECT '" + "x" * 100_001 + "'", "characters"),
    R("many-unions", " UNION ALL ".join(["SELECT enterprise_name FROM market.enterprise"] * 2500), ""),
    R("deep-not", "SELECT " + "NOT " * 400 + "TRUE", ""),
    R("deep-arithmetic", "SELECT " + " + ".join(["1"] * 5000), ""),
]

ENGINE_SPECIFIC = [
    R("group-by-all", "SELECT district, count(*) FROM market.enterprise GROUP BY ALL", "GROUP BY ALL"),
    R("order-by-all", "SELECT district FROM market.enterprise ORDER BY ALL", "ALL"),
    R("star-exclude", "SELECT * EXCLUDE (credit_code) FROM market.enterprise", "EXCLUDE"),
    R(
        "star-except-bq",
        "SELECT * EXCEPT (credit_code) FROM market.enterprise",
        "EXCLUDE",
        dialect="bigquery",
    ),
    R("star-replace", "SELECT * REPLACE (1 AS credit_code) FROM market.enterprise", "REPLACE"),
    R("positional-join", "SELECT * FROM market.enterprise POSITIONAL JOIN security.person", "POSITIONAL"),
    R(
        "asof-join",
        "SELECT * FROM market.enterprise e ASOF JOIN security.person p ON e.founded >= p.birth_date",
        "ASOF",
    ),
    R(
        "anti-join",
        "SELECT * FROM market.enterprise e ANTI JOIN security.person p ON e.legal_rep = p.name",
        "ANTI",
    ),
    R(
        "semi-join",
        "SELECT * FROM market.enterprise e SEMI JOIN security.person p ON e.legal_rep = p.name",
        "SEMI",
    ),
    R("natural-join", "SELECT * FROM market.enterprise NATURAL JOIN security.person", "NATURAL"),
    R(
        "qualify-limit",
        "SELECT district, row_number() OVER (ORDER BY district) AS rn FROM market.enterprise "
        "QUALIFY rn <= 2 ORDER BY district LIMIT 1",
        "QUALIFY",
    ),
    OK(
        "qualify-alone",
        "SELECT district, rn FROM (SELECT district, row_number() OVER (ORDER BY district) AS rn "
        "FROM market.enterprise QUALIFY rn <= 2) t ORDER BY district LIMIT 1",
        [("东城区", 1)],
        ordered=True,
    ),
    R(
        "distinct-on",
        "SELECT DISTINCT ON (district) district FROM market.enterprise",
        "DISTINCT ON",
        dialect="postgres",
    ),
    R("using-sample", "SELECT * FROM market.enterprise USING SAMPLE 10%", "sample"),
    R("tablesample", "SELECT * FROM market.enterprise TABLESAMPLE BERNOULLI (50)", "sample", dialect="trino"),
    R("columns-expr", "SELECT COLUMNS('.*') FROM market.enterprise", "not"),
    R("lambda", "SELECT list_transform([1, 2], x -> x + 1)", "not"),
    R("struct-access", "SELECT e.a.b FROM market.enterprise e", "more than two parts"),
    R("array-index", "SELECT enterprise_name[1] FROM market.enterprise", "not"),
    R("placeholder-q", "SELECT ?", "not"),
    R("placeholder-dollar", "SELECT $1", "not"),
    R("for-update", "SELECT * FROM market.enterprise FOR UPDATE", "FOR UPDATE"),
    R("time-travel", "SELECT * FROM market.enterprise AT (VERSION => 1)", "time travel"),
    R("pivot", "PIVOT market.enterprise ON district USING count(*)", ""),
    R(
        "regexp-replace-not-portable",
        "SELECT regexp_replace(enterprise_name, 'a', 'b') FROM market.enterprise",
        FN,
    ),
    R(
        "oracle-connect-by",
        "SELECT enterprise_name FROM market.enterprise START WITH 1 = 1 "
        "CONNECT BY PRIOR credit_code = credit_code",
        "",
        dialect="oracle",
    ),
    R(
        "tsql-cross-apply",
        "SELECT * FROM market.enterprise e CROSS APPLY (SELECT 1 AS x) a",
        "",
        dialect="tsql",
    ),
    R(
        "hive-lateral-view",
        "SELECT x FROM market.enterprise LATERAL VIEW explode(array(1)) t AS x",
        "",
        dialect="hive",
    ),
    R(
        "window-clause",
        "SELECT rank() OVER w FROM market.enterprise WINDOW w AS (ORDER BY district)",
        "WINDOWS",
    ),
    R("rollup", "SELECT district, count(*) FROM market.enterprise GROUP BY ROLLUP (district)", "ROLLUP"),
    R("median-approx-on-trino", "SELECT median(capital) FROM market.enterprise", FN),
    R("limit-percent", "SELECT * FROM market.enterprise LIMIT 10 PERCENT", "PERCENT"),
    R(
        "fetch-with-ties",
        "SELECT district FROM market.enterprise ORDER BY district FETCH FIRST 1 ROWS WITH TIES",
        "WITH TIES",
        dialect="postgres",
    ),
    OK("values-derived", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(x, y)", [(1, "a"), (2, "b")]),
]

DIALECTS = [
    OK(
        "mysql-backticks-limit",
        "SELECT `enterprise_name` FROM market.enterprise ORDER BY `credit_code` LIMIT 1, 2",
        [("朝阳餐饮管理有限公司",), ("北京云数科技有限公司",)],
        ordered=True,
        dialect="mysql",
    ),
    OK(
        "tsql-top",
        "SELECT TOP 2 enterprise_name FROM market.enterprise ORDER BY credit_code",
        [("东城文化传媒有限公司",), ("朝阳餐饮管理有限公司",)],
        ordered=True,
        dialect="tsql",
    ),
    OK(
        "oracle-fetch",
        "SELECT enterprise_name FROM market.enterprise ORDER BY credit_code FETCH FIRST 1 ROWS ONLY",
        [("东城文化传媒有限公司",)],
        ordered=True,
        dialect="oracle",
    ),
    R(
        "oracle-rownum",
        "SELECT enterprise_name FROM market.enterprise WHERE ROWNUM <= 1",
        UNRES,
        dialect="oracle",
    ),
    OK(
        "postgres-cast",
        "SELECT enterprise_name FROM market.enterprise WHERE capital::int > 1000",
        [("北京云数科技有限公司",), ("海淀智造有限公司",)],
        dialect="postgres",
    ),
    OK("postgres-int-division", "SELECT 7 / 2 AS q", [(3,)], dialect="postgres"),
    OK("duckdb-float-division", "SELECT 7 / 2 AS q", [(3.5,)], dialect="duckdb"),
]


# string-building functions and query size (issue 10, hole 14): DuckDB builds strings outside
# its memory limit, so their sizes are bounded before any engine runs the query
GROW = "could build strings of"
DOUBLING = (
    "WITH a AS (SELECT district || district AS s FROM market.enterprise)"
    + "".join(f", {n} AS (SELECT s || s AS s FROM {p})" for p, n in zip("abcde", "bcdef", strict=True))
    + " SELECT s || s AS s FROM f"
)
LIMITS = [
    R(
        "limit-lpad-huge",
        "SELECT length(lpad(enterprise_name, 100000000, 'x')) FROM market.enterprise",
        "LPAD to 100,000,000 characters is over the limit",
    ),
    R(
        "limit-rpad-column-length",
        "SELECT rpad(enterprise_name, capital, 'x') FROM market.enterprise",
        "RPAD: the length must be a whole-number literal",
    ),
    R(
        "limit-lpad-in-where",
        "SELECT district FROM market.enterprise WHERE lpad(district, 50000000) = 'x'",
        "LPAD to 50,000,000 characters",
    ),
    R(
        "limit-replace-computed",
        "SELECT replace(enterprise_name, 'a', enterprise_name) FROM market.enterprise",
        "the replacement must be a string literal",
    ),
    R(
        "limit-replace-nested",
        "SELECT replace(replace(district, '区', 'xxxxxxxxxx'), 'x', 'yyyyyyyyyy') FROM market.enterprise",
        f"REPLACE {GROW} 100×",
    ),
    R("limit-concat-doubling", DOUBLING, f"{GROW} 128×"),
    R(
        "limit-concat-of-pads",
        "SELECT concat(x, x) AS y FROM (SELECT lpad(district, 40000) AS x FROM market.enterprise) AS t",
        f"CONCAT {GROW} 80,000 characters",
    ),
    R("limit-repeat", "SELECT repeat(district, 100000000) FROM market.enterprise", FN),
    R("limit-space", "SELECT space(100000000) || district FROM market.enterprise", FN),
    R("limit-printf", "SELECT printf('%100000000s', district) FROM market.enterprise", FN),
    R("limit-format", "SELECT format('{:>100000000}', district) FROM market.enterprise", FN),
    R("limit-string-agg", "SELECT string_agg(district, ',') FROM market.enterprise", FN),
    R("limit-listagg", "SELECT listagg(district, ',') FROM market.enterprise", FN),
    R("limit-array-agg", "SELECT array_agg(district) FROM market.enterprise", FN),
    R("limit-regexp-replace", "SELECT regexp_replace(district, '', 'xxxxxxxxxx', 'g') FROM market.enterprise", FN),
    R("limit-list-resize", "SELECT list_resize([district], 100000000) FROM market.enterprise", FN),
    R("limit-unnest", "SELECT unnest(range(100000000)) FROM market.enterprise", FN),
    R("limit-range-select", "SELECT range(100000000) FROM market.enterprise", FN),
    R("limit-range-from", "SELECT count(*) FROM range(100000000000)", TF),
    R("limit-generate-series", "SELECT count(*) FROM generate_series(1, 100000000000)", TF),
    R(
        "limit-select-items",
        "SELECT " + ", ".join(f"capital AS a{i}" for i in range(1001)) + " FROM market.enterprise",
        "SELECT lists 1,001 items; the limit is 1,000",
    ),
    OK("limit-lpad-ok", "SELECT max(length(lpad(enterprise_name, 1000, 'x'))) AS n FROM market.enterprise", [(1000,)]),
]

CASES: list[Case] = [
    *FILE_AND_TABLE_FUNCTIONS,
    *METADATA,
    *STATEMENTS,
    *NAMES,
    *SHADOWING,
    *SUBQUERIES,
    *SET_OPERATIONS,
    *MASKS_AND_FILTERS,
    *VIEWS,
    *BOMBS,
    *ENGINE_SPECIFIC,
    *DIALECTS,
    *LIMITS,
]

HOSTILE_COUNT = sum(1 for c in CASES if isinstance(c.expect, Rejected)) + sum(
    1
    for group in (SHADOWING, SUBQUERIES, SET_OPERATIONS, MASKS_AND_FILTERS)
    for c in group
    if isinstance(c.expect, Rows)
)
