"""`govfabric status` reads the store through ``govfabric.store.summary``: plain SQL on the DB-API
(``sqlite3`` for a workspace's SQLite store, no SQLAlchemy). Its tables and columns are the models',
and its answers are the ones the owning modules give, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from govfabric.errors import AccessDenied, ConfigError, NotFound
from govfabric.store import summary
from govfabric.store.db import Store
from govfabric.store.summary import PG_URL, PostgresReader, SQLiteFile, summarise
from govfabric.store.workspace import PLAIN_SQLITE, open_reader


def test_the_queries_name_the_models_tables_and_columns() -> None:
    from govfabric.auth.audit import GENESIS
    from govfabric.auth.models import AuditHead, Principal
    from govfabric.catalog.models import Asset, Source

    for sql, model, columns in ((summary.ROLES, Principal, {"roles", "active", "name"}),
                                (summary.SOURCES, Source, set()), (summary.ASSETS, Asset, {"status"}),
                                (summary.HEAD, AuditHead, {"seq", "hash", "id"})):
        assert re.search(rf"\bFROM {model.__tablename__}\b", sql), sql
        assert columns <= set(model.__table__.c.keys()), (sql, columns - set(model.__table__.c.keys()))
    assert summary.GENESIS == GENESIS


def _source(tmp_path: Path) -> Path:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "people.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    (folder / "places.csv").write_text("id,p\n1,x\n", encoding="utf-8")
    return folder


def test_summary_is_what_the_modules_say(workspace, steward, tmp_path: Path) -> None:
    steward.catalog.add_source("d", str(_source(tmp_path)))
    steward.catalog.harvest("d")
    workspace.set_principal_active("analyst1", False)
    settings, store = open_reader(workspace.settings.home)
    try:
        assert isinstance(store, SQLiteFile if workspace.store.dialect == "sqlite" else PostgresReader)
        assert store.safe_url == workspace.store.safe_url
        for fabric in (workspace, steward):
            found = summarise(store, fabric.user)
            assert found.roles == sorted(fabric.actor.roles)
            assert (found.audit_events, found.audit_head) == fabric.audit.head()
            assert found.sources == len(fabric.catalog.sources()) == 1
            assert found.assets == len(fabric.catalog.assets(limit=None)) == 2
        with pytest.raises(NotFound, match="'nobody' is not a principal"):
            summarise(store, "nobody")
        with pytest.raises(AccessDenied, match="'analyst1' is deactivated"):
            summarise(store, "analyst1")
        with pytest.raises(AccessDenied, match="'analyst1' is deactivated"):
            workspace.as_user("analyst1").actor  # noqa: B018 -- the façade refuses it the same way
    finally:
        store.dispose()


@pytest.mark.parametrize("path", ["/tmp/ws/store.db", "/tmp/my ws/store-2.db", "/a_b/c.d/e", "/tmp/ü/store.db",
                                  "/home/张三/政务数据 工作区/store.db"])
def test_a_plain_sqlite_url_is_what_sqlalchemy_shows_and_opens(path: str) -> None:
    url = f"sqlite:///{path}"
    plain = PLAIN_SQLITE.fullmatch(url)
    assert plain is not None
    store = Store(url)
    assert SQLiteFile(plain.group(1)).safe_url == store.safe_url
    assert store.engine.url.database == plain.group(1) == path
    args, _ = store.engine.dialect.create_connect_args(store.engine.url)
    assert args == [plain.group(1)]


@pytest.mark.parametrize("url", ["sqlite:////tmp/a+b/store.db", "sqlite:////tmp/a%20b/s.db", "sqlite:////tmp/x?y=1",
                                 "sqlite:///relative.db", "sqlite+pysqlite:////tmp/s.db", "sqlite://",
                                 "postgresql://u@h/db"])
def test_other_urls_open_as_a_store(url: str) -> None:
    assert PLAIN_SQLITE.fullmatch(url) is None


def test_a_store_behind_the_code_is_refused_without_sqlalchemy(workspace) -> None:
    if workspace.store.dialect != "sqlite":
        pytest.skip("the sqlite3 reader")
    with workspace.store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version WHERE version_num IN "
                             "(SELECT version_num FROM alembic_version LIMIT 1)")
    with pytest.raises(ConfigError, match="needs migrations this govfabric brings; run `govfabric upgrade`"):
        open_reader(workspace.settings.home)


@pytest.mark.parametrize("url", [
    "postgresql://u@h/db", "postgresql+psycopg://u:pw@127.0.0.1:5432/gov", "postgres://u:p%40ss@h:1/d%20b",
    "postgresql://h/db", "postgresql://u:@h/db", "postgresql://张三:密码@h/政务?sslmode=disable&application_name=x",
    "postgresql://u@h/db?password=secret&connect_timeout=5", "postgresql://u@db.example.gov.cn:6432/db?a=1&A=2"])
def test_a_plain_postgresql_url_is_shown_as_the_store_shows_it(url: str) -> None:
    assert PG_URL.fullmatch(url) is not None
    reader = PostgresReader(url)
    assert reader.safe_url == Store(url).safe_url
    assert "secret" not in reader.safe_url and "pw" not in reader.safe_url.split("@")[0].split("//")[1]


@pytest.mark.parametrize("url", ["postgresql://u@h1,h2/db", "postgresql://u@[::1]:5432/db", "postgresql:///db",
                                 "postgresql+psycopg2://u@h/db", "postgresql://u@h/db?host=/tmp/s%2F",
                                 "postgresql://u@h/db#x"])
def test_other_postgresql_urls_open_as_a_store(url: str) -> None:
    assert PG_URL.fullmatch(url) is None


@pytest.mark.postgres
def test_a_wrong_store_password_is_refused_without_showing_it(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    wrong = store_url.replace("://", "://nobody_here:S3cret-pw@", 1) if "@" not in store_url else \
        re.sub(r"://[^@]*@", "://nobody_here:S3cret-pw@", store_url, count=1)
    reader = PostgresReader(wrong)
    with pytest.raises(ConfigError, match="cannot open the metadata store") as err:
        reader.check_revision()
    assert "S3cret-pw" not in str(err.value) and "nobody_here:***@" in str(err.value)
