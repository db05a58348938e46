"""The store's schema comes only from migrations, and migrations match the models — on both backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import govfabric
from govfabric.store import Base, Store
from govfabric.store.migrate import current_heads
from govfabric.store.registry import load_models, present_modules


def test_migrate_is_idempotent_and_reaches_every_branch(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    store.migrate()
    heads = current_heads(store.engine)
    assert len(heads) == len(present_modules())
    tables = set(inspect(store.engine).get_table_names())
    assert {"auth_principals", "auth_audit_events", "catalog_assets", "catalog_columns"} <= tables
    store.dispose()


def test_models_and_migrations_agree(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    load_models()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    # the search index table/extension objects are created by hand-written migrations
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("catalog_search_fts"))]
    assert diff == [], f"models differ from migrations: generate a revision ({diff})"
    store.dispose()


def test_sqlite_store_uses_wal(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.dispose()


UPGRADE_PROBE = """
import json, sys
from sqlalchemy import inspect
from govfabric.store import Store
from govfabric.store.registry import present_modules
store = Store(sys.argv[1])
store.migrate()
print(json.dumps({"loaded": [m.package for m in present_modules() if m.package + ".models" in sys.modules],
                  "tables": sorted(inspect(store.engine).get_table_names())}))
"""


def test_an_upgrade_imports_no_models_it_does_not_use(tmp_path) -> None:
    """Models are the target only to autogenerate a revision: a fresh store's upgrade runs every module's
    scripts (their tables all made) without importing, e.g., the notification or sync models."""
    root = Path(govfabric.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", UPGRADE_PROBE, f"sqlite:///{tmp_path / 's.db'}"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "govfabric.notify" not in report["loaded"] and "govfabric.sharing_modes.sync" not in report["loaded"]
    prefixes = {m.prefix for m in present_modules()}
    assert all(any(t.startswith(p) for t in report["tables"]) for p in prefixes), report["tables"]
