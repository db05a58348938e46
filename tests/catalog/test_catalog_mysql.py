"""MySQL/MariaDB sources for real: the throwaway MariaDB that scripts/test.sh starts
(password authentication on, utf8mb4), driven through the CLI and the façade: register with a
sealed password, test, harvest comments and row counts, virtual tables, masked SQL on DuckDB
(through its mysql extension and a temporary secret) and on Trino (its mysql connector)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from infra.services import in_ci, require_mysql_url, require_trino_url
from sqlalchemy import text

from govfabric.cli.main import run
from govfabric.errors import SourceError

pytestmark = pytest.mark.mysql

#: a password holding every character that breaks hand-joined URIs and `k=v` connection strings
NASTY_PW = "p@ss! w=rd'\"x"


def _root() -> Any:
    import pymysql

    u = urlsplit(require_mysql_url())
    return pymysql.connect(host=u.hostname, port=u.port, user=u.username, password=u.password,
                           charset="utf8mb4", autocommit=True)


@pytest.fixture
def mysql_db() -> Iterator[dict[str, Any]]:
    """A fresh database with two commented tables (Chinese comments and values) and a reader
    account whose password is NASTY_PW; all dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    db, user = f"gf_{tag}", f"gf_pw_{tag}"
    conn = _root()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            cur.execute(f"""CREATE TABLE `{db}`.t_qy_jbxx (
                tyshxydm CHAR(18) PRIMARY KEY COMMENT '统一社会信用代码',
                qymc VARCHAR(200) NOT NULL COMMENT '企业名称',
                fddbr_sfzh CHAR(18) COMMENT '法定代表人身份证号',
                zczb DECIMAL(18, 2) COMMENT '注册资本（万元）'
            ) COMMENT '企业基本信息'""")
            cur.executemany(f"INSERT INTO `{db}`.t_qy_jbxx VALUES (%s, %s, %s, %s)", [
                ("91110105MA01ABCD1X", "北京甲科技有限公司", "110105199001011234", 100.5),
                ("91110108MA02EFGH2Y", "乙公司😀", "110108198512125678", 2000),
                ("91310000MA03IJKL3Z", "B Ltd", None, None),
            ])
            cur.execute(f"CREATE TABLE `{db}`.t_empty (id INT COMMENT '编号') COMMENT '空表'")
            cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (NASTY_PW,))
            cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'127.0.0.1'")
            cur.execute(f"ANALYZE TABLE `{db}`.t_qy_jbxx, `{db}`.t_empty")
            cur.fetchall()
        u = urlsplit(require_mysql_url())
        yield {"db": db, "user": user, "host": u.hostname, "port": u.port,
               "uri": f"mysql://{user}:{quote(NASTY_PW, safe='')}@{u.hostname}:{u.port}/{db}"}
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        conn.close()


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str, user: str | None = None) -> tuple[int, str, str]:
    code = run(["--home", str(home)] + (["--as", user] if user else []) + list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    assert gf(capsys, home, "init")[0] == 0
    assert gf(capsys, home, "principal", "add", "s1", "--role", "steward", "--department", "市场监管局")[0] == 0
    assert gf(capsys, home, "principal", "add", "a1", "--role", "analyst", "--department", "发展改革委")[0] == 0
    return home


def _rows(out: str) -> list[dict[str, Any]]:
    """`sql --format json` output: one JSON array, or (older CLI) one object per line."""
    out = out.strip()
    return json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines()]


def test_cli_add_test_harvest_vt_sql(capsys: pytest.CaptureFixture[str], home: Path,
                                     mysql_db: dict[str, Any]) -> None:
    """The README path on MariaDB, with a password holding `@ ! space = ' "` all the way through."""
    db = mysql_db["db"]
    code, out, err = gf(capsys, home, "source", "add", "mr", mysql_db["uri"], user="s1")
    assert code == 0, err
    assert NASTY_PW not in out + err and quote(NASTY_PW, safe="") not in out + err
    code, out, err = gf(capsys, home, "source", "test", "mr", user="s1")
    assert code == 0, err

    code, out, err = gf(capsys, home, "catalog", "harvest", "mr", "--json", user="s1")
    assert code == 0, err
    assert sorted(json.loads(out)["added_assets"]) == [f"mr.{db}.t_empty", f"mr.{db}.t_qy_jbxx"]
    code, out, err = gf(capsys, home, "catalog", "show", f"mr.{db}.t_qy_jbxx", "--json")
    assert code == 0, err
    asset = json.loads(out)
    assert (asset["source_kind"], asset["cn_name"], asset["row_count"]) == ("mysql", "企业基本信息", 3)
    assert [(c["name"], c["cn_name"], c["type"], c["nullable"]) for c in asset["columns"]] == [
        ("tyshxydm", "统一社会信用代码", "char(18)", False),
        ("qymc", "企业名称", "varchar(200)", False),
        ("fddbr_sfzh", "法定代表人身份证号", "char(18)", True),
        ("zczb", "注册资本（万元）", "decimal(18,2)", True),
    ]
    code, out, err = gf(capsys, home, "catalog", "show", f"mr.{db}.t_empty", "--json")
    assert code == 0 and json.loads(out)["cn_name"] == "空表" and json.loads(out)["row_count"] == 0

    code, out, err = gf(capsys, home, "vt", "create", "market.enterprise", "--from", f"mr.{db}.t_qy_jbxx",
                        "--rename", "qymc=enterprise_name", user="s1")
    assert code == 0, err
    code, out, err = gf(capsys, home, "sql", "SELECT tyshxydm, enterprise_name, zczb FROM market.enterprise "
                        "ORDER BY tyshxydm", "--format", "json", user="s1")
    assert code == 0, err
    rows = _rows(out)
    assert [r["enterprise_name"] for r in rows] == ["北京甲科技有限公司", "乙公司😀", "B Ltd"]
    assert [None if r["zczb"] is None else float(r["zczb"]) for r in rows] == [100.5, 2000.0, None]
    assert "Traceback" not in err


def test_password_is_sealed_and_errors_say_what_to_fix(tmp_path: Path, mysql_db: dict[str, Any]) -> None:
    from govfabric.fabric import init_workspace

    fabric = init_workspace(tmp_path / "ws")
    try:
        fabric.catalog.add_source("mr", mysql_db["uri"])
        src = fabric.catalog.source("mr")
        assert src.secret.startswith("fernet:") and "p%40ss" not in src.uri and NASTY_PW not in src.uri
        with fabric.store.engine.connect() as conn:
            dump = " ".join(str(r) for t in ("catalog_sources", "auth_audit_events")
                            for r in conn.execute(text(f"SELECT * FROM {t}")))
        assert NASTY_PW not in dump and quote(NASTY_PW, safe="") not in dump
        assert fabric.catalog.test_source("mr").ok

        host = f"{mysql_db['host']}:{mysql_db['port']}"
        fabric.catalog.add_source("mr", f"mysql://{mysql_db['user']}:not-it%21@{host}/{mysql_db['db']}",
                                  replace=True)
        with pytest.raises(SourceError, match="password") as err:
            fabric.catalog.test_source("mr")
        assert "not-it" not in str(err.value)
        fabric.catalog.add_source("mr", mysql_db["uri"], replace=True)
        assert fabric.catalog.test_source("mr").ok

        fabric.catalog.add_source("dead", f"mysql://{mysql_db['user']}:hunter2@127.0.0.1:1/{mysql_db['db']}")
        with pytest.raises(SourceError, match="unreachable") as err:
            fabric.catalog.test_source("dead")
        assert "hunter2" not in str(err.value)
    finally:
        fabric.close()


@pytest.fixture
def masked_world(tmp_path: Path, mysql_db: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """A workspace over the MariaDB source: `market.enterprise` with the ID number masked,
    granted to analyst a1; yields (steward, analyst)."""
    from govfabric.fabric import init_workspace

    fabric = init_workspace(tmp_path / "ws")
    fabric.add_principal("s1", ["steward"], department="市场监管局")
    fabric.add_principal("a1", ["analyst"], department="发展改革委")
    steward = fabric.as_user("s1")
    steward.catalog.add_source("mr", mysql_db["uri"])
    steward.catalog.harvest("mr")
    steward.virtual.create_table("market.enterprise", f"mr.{mysql_db['db']}.t_qy_jbxx",
                                 renames={"tyshxydm": "credit_code", "qymc": "enterprise_name",
                                          "fddbr_sfzh": "legal_rep_id", "zczb": "capital"})
    steward.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    steward.access.grant("a1", "market.enterprise")
    try:
        yield steward, fabric.as_user("a1")
    finally:
        fabric.close()


QUERY = "SELECT credit_code, enterprise_name, legal_rep_id FROM market.enterprise ORDER BY credit_code"


def _check_masked(rows: list[dict[str, Any]]) -> None:
    assert [r["enterprise_name"] for r in rows] == ["北京甲科技有限公司", "乙公司😀", "B Ltd"]
    ids = [r["legal_rep_id"] for r in rows]
    assert ids[2] is None
    for real, shown in zip(("110105199001011234", "110108198512125678"), ids[:2], strict=True):
        assert shown != real and shown[:6] == real[:6] and "*" in shown


def test_duckdb_reads_mariadb_with_masks(masked_world: tuple[Any, Any]) -> None:
    steward, analyst = masked_world
    _check_masked(analyst.sql(QUERY, engine="duckdb").to_pylist())
    # a filter on the masked column cannot find the real value
    assert analyst.sql("SELECT count(*) AS n FROM market.enterprise "
                       "WHERE legal_rep_id = '110105199001011234'", engine="duckdb").column(0)[0].as_py() == 0
    total = analyst.sql("SELECT sum(capital) AS s FROM market.enterprise", engine="duckdb").column(0)[0].as_py()
    assert float(total) == 2100.5


def _trino_has_mysql_connector(url: str) -> bool:
    """Whether the Trino server was started with the mysql plugin (scripts/lib/common.sh keeps it;
    a server started before that was added lacks it until restarted)."""
    import trino

    u = urlsplit(url)
    cur = trino.dbapi.connect(host=u.hostname, port=u.port, user="govfabric-test").cursor()
    name = f"gf_probe_{uuid.uuid4().hex[:8]}"
    try:
        cur.execute(f"CREATE CATALOG {name} USING mysql WITH (\"connection-url\" = 'jdbc:mysql://127.0.0.1:1')")
        cur.fetchall()
    except Exception as err:  # the server's answer is the probe
        if "mysql" in str(err).lower() and "connector" in str(err).lower():
            return False
        raise
    cur.execute(f"DROP CATALOG {name}")
    cur.fetchall()
    return True


@pytest.mark.trino
def test_trino_reads_mariadb_with_masks(masked_world: tuple[Any, Any]) -> None:
    url = require_trino_url()
    if not _trino_has_mysql_connector(url):
        message = ("the Trino server has no mysql connector: restart it so it loads the plugin "
                   "(bash scripts/services.sh stop trino && bash scripts/services.sh start trino)")
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    steward, analyst = masked_world
    analyst.settings.trino_url = url
    _check_masked(analyst.sql(QUERY, engine="trino").to_pylist())
    total = analyst.sql("SELECT sum(capital) AS s FROM market.enterprise", engine="trino").column(0)[0].as_py()
    assert float(total) == 2100.5


def test_trino_catalog_for_a_mysql_source_names_no_database(tmp_path: Path) -> None:
    """Trino's MySQL connector refuses a database in its JDBC URL (each database is a schema);
    the password is an environment reference, never written out."""
    from govfabric.fabric import init_workspace
    from govfabric.virtualization.engines.trino import TrinoEngine

    fabric = init_workspace(tmp_path / "ws")
    try:
        fabric.catalog.add_source("mr", f"mysql://reader:{quote(NASTY_PW, safe='')}@db.example/market")
        props = TrinoEngine.catalog_properties(fabric.catalog.source("mr"))
    finally:
        fabric.close()
    lines = [line for line in props.splitlines() if not line.startswith("#")]
    assert lines == ["connector.name=mysql", "connection-url=jdbc:mysql://db.example:3306/",
                     "connection-user=reader", "case-insensitive-name-matching=true",
                     "connection-password=${ENV:GF_MR_PASSWORD}"]
    assert NASTY_PW not in props
