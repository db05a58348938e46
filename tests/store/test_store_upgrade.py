"""Migrations run by `govfabric init` / `govfabric upgrade` under a lock, never on connect:
connect checks the store's revision and says what to run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from infra.alembic_run import run_alembic
from sqlalchemy import inspect, text

from govfabric.cli.main import run
from govfabric.errors import ConfigError
from govfabric.fabric import connect, init_workspace
from govfabric.store import Store
from govfabric.store.migrate import code_heads, current_heads


def _downgrade_schedule(fabric) -> None:
    """Put the store one module behind the code (the schedule branch unapplied)."""
    run_alembic(fabric.store, command.downgrade, "schedule@base")


def test_connect_refuses_a_store_behind_and_upgrade_migrates_it(workspace, capsys) -> None:
    home = workspace.settings.home
    _downgrade_schedule(workspace)
    workspace.close()
    with pytest.raises(ConfigError, match="run `govfabric upgrade`"):
        connect(home)
    probe = Store(workspace.settings.resolved_store_url)
    assert "gov_sched_jobs" not in set(inspect(probe.engine).get_table_names())  # connect ran no DDL
    probe.dispose()

    assert run(["--home", str(home), "upgrade"]) == 0
    assert "store migrated" in capsys.readouterr().out
    with connect(home) as fabric:
        assert current_heads(fabric.store.engine) == code_heads()
        events = fabric.audit.events(action="workspace.upgrade")
        assert len(events) == 1 and events[0].details["to"] == sorted(code_heads())
    assert run(["--home", str(home), "upgrade"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_connect_refuses_a_store_newer_than_the_code(tmp_path: Path) -> None:
    fabric = init_workspace(tmp_path / "ws")
    with fabric.store.session() as s:
        s.execute(text("INSERT INTO alembic_version (version_num) VALUES ('ffffffffffff')"))
    fabric.close()
    with pytest.raises(ConfigError, match="newer govfabric"):
        connect(tmp_path / "ws")


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgres_do_not_race(pg_database: str) -> None:
    errors: list[BaseException] = []

    def upgrade() -> None:
        store = Store(pg_database)
        try:
            store.migrate()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            store.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = Store(pg_database)
    assert current_heads(store.engine) == code_heads()
    store.dispose()


def test_only_an_admin_upgrades(workspace, capsys) -> None:
    home = workspace.settings.home
    workspace.add_principal("ana", ["analyst"])
    _downgrade_schedule(workspace)
    workspace.close()
    assert run(["--home", str(home), "--as", "ana", "upgrade"]) != 0
    assert "may not upgrade the workspace" in capsys.readouterr().err
    assert run(["--home", str(home), "--as", "nobody", "upgrade"]) != 0
    assert run(["--home", str(home), "upgrade"]) == 0  # the workspace's admin
