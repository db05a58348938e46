"""Shared fixtures: workspaces on SQLite and on the real PostgreSQL started by .ci/run."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from infra.services import require_pg_url

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def pg_url() -> str:
    return require_pg_url()


def _with_db(url: str, db: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}"


@pytest.fixture
def make_pg_database(pg_url: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases, all dropped afterwards."""
    import psycopg
    from psycopg import sql

    made: list[str] = []

    def make() -> str:
        name = f"gf_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return _with_db(pg_url, name)

    yield make
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_database(make_pg_database: Callable[[], str]) -> str:
    return make_pg_database()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store, copied for each test (migrating costs more than copying)."""
    from govfabric.store import Store

    path = tmp_path_factory.mktemp("template") / "store.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database used as the TEMPLATE of each test's store."""
    import psycopg
    from psycopg import sql

    from govfabric.store import Store

    name = f"gf_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    store = Store(_with_db(pg_url, name))
    store.migrate()
    store.dispose()
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store URL, once on SQLite and once on PostgreSQL (already migrated)."""
    if request.param == "sqlite":
        target = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    import psycopg
    from psycopg import sql

    template = request.getfixturevalue("pg_template")
    pg_url = request.getfixturevalue("pg_url")
    name = f"gf_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                       sql.Identifier(template)))
    request.addfinalizer(lambda: _drop(pg_url, name))
    return _with_db(pg_url, name)


def _drop(pg_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def workspace(tmp_path: Path, store_url: str):
    """An initialised workspace (admin) with a steward and an analyst; both store backends."""
    from govfabric.fabric import init_workspace

    fabric = init_workspace(tmp_path / "ws", store_url=store_url)
    fabric.add_principal("steward1", ["steward"], department="市场监管局")
    fabric.add_principal("analyst1", ["analyst"], department="发展改革委", attributes={"region": "110105"})
    yield fabric
    fabric.close()


@pytest.fixture
def steward(workspace):
    f = workspace.as_user("steward1")
    yield f


@pytest.fixture
def analyst(workspace):
    yield workspace.as_user("analyst1")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace before its lessons (`build_demo(teach=False)`: registered and classified,
    no virtual tables, grants or policies), built once per test session; tests make their own.
    ``tests/test_docs.py`` adds the lessons to a copy, as `govfabric demo` leaves them."""
    from govfabric.demo.build import build_demo

    home = tmp_path_factory.mktemp("demo") / "ws"
    build_demo(home, progress=False, teach=False)
    from govfabric.fabric import connect

    with connect(home, "steward_mr") as f:  # install DuckDB extensions once for every copy
        import duckdb

        from govfabric.virtualization.engines.duckdb import EXTENSIONS, FILE_EXTENSIONS, load_extensions

        con = duckdb.connect(config={"extension_directory": str(f.settings.extensions_dir)})
        load_extensions(con, f.settings.extensions_dir, [*EXTENSIONS.values(), *FILE_EXTENSIONS])
        con.close()
    return home


@pytest.fixture
def demo_home(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace's store; data files and extensions are shared read-only."""
    from tests.infra.demo import copy_demo

    return copy_demo(demo_template, tmp_path / "demo")


@pytest.fixture
def demo(demo_home: Path):
    """The demo workspace acting as its market-regulation steward."""
    from govfabric.fabric import connect

    f = connect(demo_home, "steward_mr")
    yield f
    f.close()


@pytest.fixture
def router_client() -> Callable[..., Any]:
    """Router tests before the whole server: a bare FastAPI app with the server's error handlers,
    one router, and the caller fixed to one principal (what the authentication layer would
    establish). End-to-end tests with signed requests against ``govfabric serve`` are in tests/server."""
    from fastapi import APIRouter, FastAPI, Request
    from fastapi.testclient import TestClient

    from govfabric.server import errors

    def make(fabric: Any, router: APIRouter, principal: str) -> TestClient:
        app = FastAPI()
        errors.install(app)
        app.include_router(router)
        app.state.fabrics = fabric.as_user

        @app.middleware("http")
        async def _as(request: Request, call_next):  # type: ignore[no-untyped-def]
            request.state.principal = principal
            request.state.request_id = "test-request"
            return await call_next(request)

        return TestClient(app, raise_server_exceptions=False)

    return make
