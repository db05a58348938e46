"""Alembic, driven from code: one environment, one branch per module.

``python -m govfabric.store.migrate revision MODULE -m "message"`` autogenerates a
revision for that module's tables only (against a scratch SQLite store).
"""

from __future__ import annotations

import argparse
import ast
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from govfabric.errors import ConfigError
from govfabric.store.registry import MODULES, ModuleTables, present_modules

if TYPE_CHECKING:  # alembic loads only to migrate: checking a store's revision (every command) reads files
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Engine

ENV_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None, only: ModuleTables | None = None) -> Config:
    from alembic.config import Config

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
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def current_heads(engine: Engine) -> set[str]:
    """The revisions the store is at (a query of ``alembic_version``, as alembic reads it)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}


@cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.M)


@cache
def _graph() -> dict[str, tuple[str, ...]] | None:
    """revision → its down revisions, read from the revision files' text (no import of them, nor of
    alembic); None when a file says it in a way this reader does not follow (then alembic reads them)."""
    graph: dict[str, tuple[str, ...]] = {}
    for m in present_modules():
        for f in sorted(m.migrations_dir.glob("*.py")):
            found = dict(_ASSIGN.findall(f.read_text(encoding="utf-8")))
            try:
                rev, down = ast.literal_eval(found["revision"]), ast.literal_eval(found["down_revision"])
            except (KeyError, ValueError, SyntaxError):
                return None
            if not isinstance(rev, str):
                return None
            graph[rev] = (down,) if isinstance(down, str) else tuple(down or ())
    return graph


def code_heads() -> set[str]:
    """The newest revision of every module's branch in this code: revisions no other revision follows."""
    graph = _graph()
    if graph is None:
        return set(_script().get_heads())
    below = {d for downs in graph.values() for d in downs}
    return set(graph) - below


def state(current: set[str]) -> str:
    """``current``, ``behind`` (migrations to run), ``ahead`` (the store is newer than this code)
    or ``empty`` (no schema)."""
    heads = code_heads()
    if current == heads:
        return "current"
    if not current:
        return "empty"
    return "ahead" if current - _known() else "behind"


def require_current(current: set[str], store: str) -> None:
    """Refuse a store (``store``: its URL without password) whose schema is not this code's: what to run."""
    where = state(current)
    if where == "behind":
        raise ConfigError(f"the metadata store {store} needs migrations this govfabric brings; "
                          "run `govfabric upgrade` (back up the store first)")
    if where == "empty":
        raise ConfigError(f"the metadata store {store} has no govfabric schema; run `govfabric init` "
                          "(or `govfabric upgrade`)")
    if where == "ahead":
        raise ConfigError(f"the metadata store {store} was migrated by a newer govfabric than this one; "
                          "upgrade govfabric (pip install -U govfabric)")


@cache
def _known() -> frozenset[str]:
    graph = _graph()
    return frozenset(graph) if graph is not None else frozenset(r.revision for r in _script().walk_revisions())


def revision(module: str, message: str) -> None:
    from alembic import command

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
