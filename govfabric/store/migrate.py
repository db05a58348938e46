"""Alembic, driven from code: one environment, one branch per module.

``python -m govfabric.store.migrate revision MODULE -m "message"`` autogenerates a
revision for that module's tables only (against a scratch SQLite store).
"""

from __future__ import annotations

import argparse
import tempfile
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from govfabric.store.registry import MODULES, ModuleTables, present_modules

ENV_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None, only: ModuleTables | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    locations = [str(m.migrations_dir) for m in present_modules()]
    cfg.set_main_option("version_locations", " ".join(locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["engine"] = engine
    cfg.attributes["only_prefix"] = only.prefix if only else None
    return cfg


#: the PostgreSQL advisory lock key serialising `govfabric init` / `upgrade` runs on one store
LOCK_KEY = 0x60F_AB21C


def upgrade(engine: Engine) -> None:
    """Run every pending migration in one transaction, holding the store's migration lock.

    PostgreSQL: a transaction-scoped advisory lock, so two upgrades never race their DDL;
    SQLite: the store's transactions begin ``IMMEDIATE`` (see ``db.make_engine``), a write lock."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def current_heads(engine: Engine) -> set[str]:
    """The revisions the store is at (one query of ``alembic_version``)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def code_heads() -> set[str]:
    """The newest revision of every module's branch in this code."""
    return set(_script().get_heads())


def state(current: set[str]) -> str:
    """``current``, ``behind`` (migrations to run), ``ahead`` (the store is newer than this code)
    or ``empty`` (no schema)."""
    heads = code_heads()
    if current == heads:
        return "current"
    if not current:
        return "empty"
    return "ahead" if current - _known() else "behind"


@cache
def _known() -> frozenset[str]:
    return frozenset(r.revision for r in _script().walk_revisions())


def revision(module: str, message: str) -> None:
    from govfabric.store.db import Store

    mod = next((m for m in MODULES if m.name == module), None)
    if mod is None:
        raise SystemExit(f"unknown module {module!r}; known: {', '.join(m.name for m in MODULES)}")
    mod.migrations_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/scratch.db")
        store.migrate()
        cfg = alembic_config(store.engine, only=mod)
        has_branch = any(mod.migrations_dir.glob("*.py"))
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.revision(
                cfg,
                message=message,
                autogenerate=True,
                head=f"{mod.name}@head" if has_branch else "base",
                branch_label=None if has_branch else mod.name,
                version_path=str(mod.migrations_dir),
            )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m govfabric.store.migrate")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision for one module")
    rev.add_argument("module")
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    if args.cmd == "revision":
        revision(args.module, args.message)


if __name__ == "__main__":
    main()
