"""Server source URIs go through SQLAlchemy's ``make_url``; what a user typed reaches the driver intact."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from infra.services import require_mysql_url

from govfabric.catalog.sources import kind_of, parse_uri
from govfabric.catalog.sources.base import connection_params
from govfabric.errors import ValidationFailed

#: every character a hand-split URL gets wrong: separators, the escape itself, non-ASCII
PASSWORD = "a@b:c/d%e?f#g 密"
USER = "gf_用户"


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_user_and_password_round_trip(scheme: str) -> None:
    raw = f"{scheme}://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@Db.example:4000/sales?sslmode=require"
    p = parse_uri(raw)
    assert p.password == PASSWORD and PASSWORD not in p.uri and quote(PASSWORD, safe="") not in p.uri
    params = connection_params(p.uri, None, None)  # type: ignore[arg-type]
    assert (params.user, params.host, params.port, params.database) == (USER, "Db.example", 4000, "sales")
    assert params.options == {"sslmode": "require"}
    assert kind_of(scheme).parse(p.uri).uri == p.uri  # parsing a stored URI changes nothing


def test_password_in_a_query_parameter_and_default_port() -> None:
    p = parse_uri("mysql://u@h/db?password=x%26y&charset=utf8mb4")
    assert (p.password, p.uri) == ("x&y", "mysql://u@h:3306/db?charset=utf8mb4")
    with pytest.raises(ValidationFailed, match="two different passwords"):
        parse_uri("mysql://u:a@h/db?password=b")


def test_an_unencoded_at_sign_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationFailed, match="%40"):
        parse_uri("mysql://u:p@ss@h/db")


@pytest.mark.mysql
def test_mariadb_harvest_with_a_non_ascii_user_and_a_nasty_password(tmp_path: Path) -> None:
    import pymysql

    from govfabric.fabric import init_workspace

    root = urlsplit(require_mysql_url())
    tag = uuid.uuid4().hex[:8]
    db, user = f"gf_u_{tag}", f"{USER}_{tag}"
    con = pymysql.connect(host=root.hostname, port=root.port, user=root.username, password=root.password,
                          charset="utf8mb4", autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{db}`")
            cur.execute(f"CREATE TABLE `{db}`.t (id INT)")
            cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY %s", (PASSWORD,))
            cur.execute(f"GRANT SELECT ON `{db}`.* TO '{user}'@'127.0.0.1'")
        fabric = init_workspace(tmp_path / "ws")
        try:
            uri = f"mysql://{quote(user, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{root.port}/{db}"
            fabric.catalog.add_source("mr", uri)
            assert fabric.catalog.test_source("mr").ok
            tables = fabric.catalog.read_structure(fabric.catalog.source("mr"))
            assert [t.name for t in tables] == ["t"]
        finally:
            fabric.close()
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        con.close()
