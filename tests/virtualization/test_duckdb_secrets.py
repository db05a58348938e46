"""PostgreSQL/MySQL sources attach through temporary DuckDB secrets: a password stays one value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from govfabric.catalog.sources import ConnParams
from govfabric.virtualization.engines.duckdb import attach_statements, load_extensions

INJECT = "x' host=evil.invalid port=1 database=other"


@pytest.fixture
def con(tmp_path: Path) -> Any:
    import duckdb

    c = duckdb.connect(config={"extension_directory": str(tmp_path / "ext"), "autoinstall_known_extensions": False,
                               "autoload_known_extensions": False, "allow_persistent_secrets": False})
    load_extensions(c, tmp_path / "ext", ["postgres_scanner", "mysql_scanner"])
    yield c
    c.close()


def test_mysql_password_cannot_inject_options(con) -> None:
    """Old code joined `host=… password=…` as text: a space or quote in the password added options."""
    create, attach, drop = attach_statements("src_m", "mysql", ConnParams("127.0.0.1", 1, "u", "db", INJECT, {}))
    assert "evil" not in attach and "PASSWORD 'x'' host=evil.invalid" in create
    con.execute(create)  # parses: the whole password is one literal
    row = con.execute("SELECT type, persistent, storage FROM duckdb_secrets() "
                      "WHERE name = 'gf_secret_src_m'").fetchone()
    assert row == ("mysql", False, "memory")
    with pytest.raises(Exception) as err:
        con.execute(attach)
    text = str(err.value)
    assert "127.0.0.1" in text and "evil" not in text and "x'" not in text
    con.execute(drop)
    assert con.execute("SELECT count(*) FROM duckdb_secrets()").fetchone() == (0,)


@pytest.mark.postgres
def test_postgres_password_is_one_value_on_a_real_server(con, pg_url) -> None:
    """A password with `host=` text reaches PostgreSQL as the password (authentication fails),
    not as a second host; and DuckDB's error shows neither."""
    from urllib.parse import urlsplit

    p = urlsplit(pg_url)
    stmts = attach_statements("src_p", "postgresql", ConnParams(p.hostname, p.port, "gf_pw_user", "postgres",
                                                                 INJECT, {"sslmode": "disable"}))
    con.execute(stmts[0])
    with pytest.raises(Exception) as err:
        con.execute(stmts[1])
    text = str(err.value)
    assert "password authentication failed" in text and "evil" not in text
    # a URI option is quoted too: `sslmode=disable host=…` stays the (invalid) sslmode value
    stmts = attach_statements("src_q", "postgresql", ConnParams(p.hostname, p.port, "gf_pw_user", "postgres",
                                                                 None, {"sslmode": "disable host=evil.invalid"}))
    con.execute(stmts[0])
    with pytest.raises(Exception, match="invalid sslmode value"):
        con.execute(stmts[1])


@pytest.mark.postgres
def test_postgres_attach_reads_with_the_secret_dropped(con, pg_url) -> None:
    from urllib.parse import urlsplit

    p = urlsplit(pg_url)
    for stmt in attach_statements("src_p", "postgresql", ConnParams(p.hostname, p.port, p.username, "postgres",
                                                                     "unused by trust", {})):
        con.execute(stmt)
    assert con.execute("SELECT count(*) > 0 FROM src_p.pg_catalog.pg_class").fetchone() == (True,)
    assert con.execute("SELECT count(*) FROM duckdb_secrets()").fetchone() == (0,)
