"""The real services that scripts/test.sh starts answer as govfabric will use them."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from sqlglot import exp

from .services import (
    MYSQL_URL_VAR,
    PG_URL_VAR,
    RPC_URL_VAR,
    TRINO_URL_VAR,
    require_mysql_url,
    require_pg_url,
    require_rpc_url,
    require_trino_url,
)

# ---------------------------------------------------------------- require_*_url


@pytest.mark.parametrize(
    ("require", "var"),
    [
        (require_pg_url, PG_URL_VAR),
        (require_mysql_url, MYSQL_URL_VAR),
        (require_trino_url, TRINO_URL_VAR),
        (require_rpc_url, RPC_URL_VAR),
    ],
)
def test_require_url_returns_fails_or_skips(require, var, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, "http://127.0.0.1:1")
    assert require() == "http://127.0.0.1:1"

    monkeypatch.delenv(var)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"{var} is not set but CI is"):
        require()

    for local in ("", "false"):
        monkeypatch.setenv("CI", local)
        with pytest.raises(pytest.skip.Exception, match="scripts/services.sh start"):
            require()


# ---------------------------------------------------------------- helpers


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _trino_cursor(url: str):
    import trino

    parts = urlsplit(url)
    https = parts.scheme == "https"
    conn = trino.dbapi.connect(
        host=parts.hostname,
        port=parts.port or (443 if https else 80),
        user="govfabric-test",
        http_scheme=parts.scheme or "http",
    )
    return conn.cursor()


def _select(columns: list[str], *table: str, order_by: str | None = None) -> str:
    query = exp.select(*columns).from_(exp.table_(table[-1], db=table[-2], catalog=table[0], quoted=True))
    if order_by:
        query = query.order_by(order_by)
    return query.sql("trino")


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database in the test cluster; yields its URL and drops it afterwards."""
    base = require_pg_url()
    name = f"gf_infra_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(base)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_answers_and_has_pg_trgm(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("CREATE EXTENSION pg_trgm")
        (score,) = conn.execute("SELECT similarity('govfabric', 'govfabrik')").fetchone()
        assert 0.3 < score < 1.0


# ---------------------------------------------------------------- MariaDB


@pytest.mark.mysql
def test_mariadb_checks_passwords_and_keeps_utf8mb4() -> None:
    import pymysql

    url = urlsplit(require_mysql_url())
    assert url.password, "the test MariaDB must have a root password (authentication on)"
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(host=url.hostname, port=url.port, user=url.username, password=url.password + "x")
    conn = pymysql.connect(host=url.hostname, port=url.port, user=url.username, password=url.password,
                           charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@character_set_server, @@bind_address, @@skip_grant_tables, '统一社会信用代码😀'")
            assert cur.fetchone() == ("utf8mb4", "127.0.0.1", 0, "统一社会信用代码😀")
    finally:
        conn.close()


# ---------------------------------------------------------------- Trino


@pytest.mark.trino
@pytest.mark.postgres
def test_trino_dynamic_postgres_catalog(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE enterprise (id integer PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO enterprise VALUES (1, '甲公司'), (2, 'B Ltd')")
    pg = urlsplit(pg_database)
    jdbc = f"jdbc:postgresql://{pg.hostname}:{pg.port or 5432}{pg.path}"
    catalog = f"pg_{uuid.uuid4().hex[:10]}"
    cur = _trino_cursor(require_trino_url())

    user = pg.username or "postgres"
    cur.execute(
        f"CREATE CATALOG {catalog} USING postgresql WITH ("
        f'"connection-url" = {_sql_string(jdbc)}, "connection-user" = {_sql_string(user)})'
    )
    cur.fetchall()
    try:
        cur.execute(_select(["id", "name"], catalog, "public", "enterprise", order_by="id"))
        assert cur.fetchall() == [[1, "甲公司"], [2, "B Ltd"]]
    finally:
        cur.execute(f"DROP CATALOG {catalog}")
        cur.fetchall()
    cur.execute("SHOW CATALOGS")
    assert [catalog] not in cur.fetchall()


@pytest.mark.trino
def test_trino_reads_local_csv_and_parquet(tmp_path: Path) -> None:
    """Trino (same machine) reads CSV and Parquet files through a dynamic hive catalog."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "people").mkdir()
    (tmp_path / "people" / "people.csv").write_text("1,张三\n2,李四\n", encoding="utf-8")
    (tmp_path / "amounts").mkdir()
    amounts = pa.table({"id": [1, 2, 3], "amount": [1.5, 2.5, 3.0]})
    pq.write_table(amounts, tmp_path / "amounts" / "p0.parquet")
    catalog = f"files_{uuid.uuid4().hex[:10]}"
    cur = _trino_cursor(require_trino_url())

    cur.execute(
        f"CREATE CATALOG {catalog} USING hive WITH ("
        "\"hive.metastore\" = 'file', \"hive.metastore.catalog.dir\" = 'local:///.metastore', "
        f'"fs.native-local.enabled" = \'true\', "local.location" = {_sql_string(str(tmp_path))})'
    )
    cur.fetchall()
    try:
        for statement in (
            f"CREATE SCHEMA {catalog}.s",
            f"CREATE TABLE {catalog}.s.people (id varchar, name varchar) "
            "WITH (external_location = 'local:///people', format = 'CSV')",
            f"CREATE TABLE {catalog}.s.amounts (id bigint, amount double) "
            "WITH (external_location = 'local:///amounts', format = 'PARQUET')",
        ):
            cur.execute(statement)
            cur.fetchall()
        cur.execute(_select(["id", "name"], catalog, "s", "people", order_by="id"))
        assert cur.fetchall() == [["1", "张三"], ["2", "李四"]]
        cur.execute(_select(["sum(amount)", "count(*)"], catalog, "s", "amounts"))
        assert cur.fetchall() == [[7.0, 3]]
    finally:
        cur.execute(f"DROP CATALOG {catalog}")
        cur.fetchall()


# ---------------------------------------------------------------- Ethereum JSON-RPC

# Runtime code: MSTORE 42 at 0, MCOPY 32 bytes from 0 to 32, RETURN memory[32:64].
# MCOPY (0x5e) exists from cancun on; Vyper 0.4.3 emits it for its default `prague` target.
_MCOPY_RUNTIME = bytes.fromhex("602a6000526020600060205e60206020f3")
_DEPLOY_PREFIX = bytes.fromhex(f"60{len(_MCOPY_RUNTIME):02x}600c60003960{len(_MCOPY_RUNTIME):02x}6000f3")


@pytest.mark.chain
def test_rpc_node_answers_and_runs_cancun_opcodes() -> None:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(require_rpc_url(), request_kwargs={"timeout": 10}))
    assert w3.eth.chain_id == 31337
    start = w3.eth.block_number
    assert start >= 0

    sender = w3.eth.accounts[0]
    tx = w3.eth.send_transaction({"from": sender, "data": _DEPLOY_PREFIX + _MCOPY_RUNTIME})
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=10)
    assert receipt.status == 1
    assert int.from_bytes(w3.eth.call({"to": receipt.contractAddress}), "big") == 42
    assert w3.eth.block_number > start


# ---------------------------------------------------------------- scripts/services.sh env


def test_services_env_prints_the_urls_tests_read(tmp_path: Path) -> None:
    """A MariaDB URL only once a start has made its password; the test log hides that password."""
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "GOVFABRIC_SERVICES_DIR": str(tmp_path / "run"),
        "GOVFABRIC_CACHE": str(tmp_path / "cache"),
        "GOVFABRIC_PG_PORT": "15432",
        "GOVFABRIC_TRINO_PORT": "18080",
        "GOVFABRIC_RPC_PORT": "18545",
        "GOVFABRIC_MYSQL_PORT": "13306",
        "GOVFABRIC_REDIS_PORT": "16379",
    }

    def services_env() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(root / "scripts" / "services.sh"), "env"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )

    done = services_env()
    expected = [
        f"export {PG_URL_VAR}=postgresql://postgres@127.0.0.1:15432/postgres",
        f"export {TRINO_URL_VAR}=http://127.0.0.1:18080",
        f"export {RPC_URL_VAR}=http://127.0.0.1:18545",
        "export GOVFABRIC_TEST_REDIS_URL=redis://127.0.0.1:16379/0",
    ]
    assert done.stdout.splitlines() == expected
    assert "postgres is not running" in done.stderr
    assert "mariadb is not running" in done.stderr

    (tmp_path / "run" / "mariadb").mkdir(parents=True)
    (tmp_path / "run" / "mariadb" / "root.password").write_text("s3cr3t")
    mysql_line = f"export {MYSQL_URL_VAR}=mysql://root:s3cr3t@127.0.0.1:13306/mysql"
    assert services_env().stdout.splitlines() == [*expected, mysql_line]

    redacted = subprocess.run(
        ["bash", "-c", f"source {root / 'scripts' / 'lib' / 'common.sh'} && gf_redact_urls"],
        env=env,
        input=mysql_line + " postgresql://postgres@h/db",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert redacted.stdout == (
        f"export {MYSQL_URL_VAR}=mysql://root:***@127.0.0.1:13306/mysql postgresql://postgres@h/db"
    )
