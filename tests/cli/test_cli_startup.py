"""Start-up cost of the command line, bounded by what it imports (never by timing, which a busy
machine would make flaky): `--help` lists every command without importing a command module, and
`status` imports no query, quality, chain or MPC engine. The help `--help` lists is static
(main.GROUPS, main.COMMANDS): it must say what each command's own help says."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from govfabric.cli import main
from govfabric.cli.main import app, lazy_entries, load_command, run

#: what no start-up path may import before a command needs it
HEAVY = ("great_expectations", "web3", "eth_account", "vyper", "tenseal", "pyarrow", "numpy", "pandas",
         "polars", "duckdb", "sqlglot", "trino", "fastapi", "uvicorn")
#: `status` checks the store's revision from the files' text, without alembic (it loads only to migrate);
#: it reads a SQLite store with sqlite3 and a PostgreSQL one with psycopg (SQLAlchemy alone was half its
#: 0.5 s budget), loads no ORM, no module's models, no pydantic-settings, and none of rich's tables or
#: progress bars
STATUS_HEAVY = (*HEAVY, "alembic", "sqlalchemy", "pydantic_settings", "rich.table", "rich.progress")
#: `--help` touches no store either, nor what typer's formatter imports for markdown help and pretty tracebacks
HELP_HEAVY = (*HEAVY, "sqlalchemy", "alembic", "pydantic_settings", "rich.markdown", "rich.traceback")

PROBE = """
import json, sys
from govfabric.cli.main import run
code = max(run(args) for args in json.loads(sys.argv[1]))
mods = sorted(m for m in sys.modules if m.startswith(('govfabric.', 'rich.', 'sqlalchemy.orm')) or '.' not in m)
print(json.dumps({'code': code, 'modules': mods}), file=sys.stderr)
"""


def imported_by(*args: str, more: tuple[list[str], ...] = ()) -> set[str]:
    """The modules a fresh interpreter holds after running ``govfabric ARGS`` (and each of ``more``):
    top-level packages and every govfabric module."""
    root = Path(main.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([list(args), *more])], capture_output=True,
                          text=True, env=env,
                          timeout=120, check=False)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, (proc.stdout, proc.stderr)
    return set(report["modules"])


def test_help_imports_no_command_module_and_no_engine() -> None:
    mods = imported_by("--help")
    assert not mods & set(HELP_HEAVY), sorted(mods & set(HELP_HEAVY))
    commands = sorted(m for m in mods if m.startswith("govfabric.cli.") and m not in
                      ("govfabric.cli.main", "govfabric.cli.common"))
    assert not commands, commands
    assert "govfabric.fabric" not in mods


def _status_imports(home: Path, heavy: tuple[str, ...]) -> set[str]:
    mods = imported_by("--home", str(home), "status")
    assert not mods & set(heavy), sorted(mods & set(heavy))
    assert "govfabric.store.summary" in mods  # the probe did run the command
    # neither the façade nor any module's service or tables: the store's summary reads what status shows
    assert "govfabric.fabric" not in mods
    loaded = sorted(m for m in mods if m.endswith((".models", ".service")) or m == "govfabric.store.base")
    assert not loaded, loaded
    groups = sorted(m for m in mods if m.startswith("govfabric.cli.") and m not in
                    ("govfabric.cli.main", "govfabric.cli.common", "govfabric.cli.workspace"))
    assert not groups, groups
    return mods


@pytest.mark.parametrize("name", ["ws", "政务 工作区"])
def test_status_imports_only_the_store(tmp_path: Path, name: str) -> None:
    from govfabric.fabric import init_workspace

    init_workspace(tmp_path / name).close()
    _status_imports(tmp_path / name, STATUS_HEAVY)


@pytest.mark.postgres
def test_status_on_postgresql_imports_no_sqlalchemy(tmp_path: Path, store_url: str) -> None:
    from govfabric.fabric import init_workspace

    if not store_url.startswith("postgresql"):
        pytest.skip("the SQLite store is the test above")
    init_workspace(tmp_path / "ws", store_url=store_url).close()
    assert "psycopg" in _status_imports(tmp_path / "ws", STATUS_HEAVY)


def test_group_help_imports_no_engine() -> None:
    """A group's own `--help` imports its module, not the engines its commands use."""
    light = [g for g in lazy_entries() if g not in ("access", "policy", "sql", "engine")]  # masks, arrow
    mods = imported_by(light[0], "--help", more=tuple([g, "--help"] for g in light[1:]))
    assert not mods & set(HELP_HEAVY[len(HEAVY) + 3:]), "typer's formatter imported what help never uses"
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))
    assert "govfabric.cli.security" in mods and "govfabric.cli.standards" in mods


def _listed(help_text: str) -> str:
    """What a help listing shows of a command: its first paragraph, on one line."""
    return " ".join(inspect.cleandoc(help_text).split("\n\n")[0].split())


def test_static_help_is_the_commands_own() -> None:
    """A line added to GROUPS or COMMANDS needs its help, and the help cannot drift from the module's."""
    for table in (main.GROUPS, main.COMMANDS):
        for line in table:
            assert len(line) == 3 and line[2], f"{line}: give (module, name, one-line help)"
    entries = lazy_entries()
    assert len(entries) == len(main.GROUPS) + len(main.COMMANDS), "two lines give the same command name"
    for name, (target, registered, static) in entries.items():
        cmd = load_command(name, target, registered)
        assert cmd is not None, f"{name}: {target} is missing"
        assert static == _listed(cmd.short_help or cmd.help or ""), f"{name}: the help in main.py differs"


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    listed = " ".join(out.split())
    for name, (_, _, static) in lazy_entries().items():
        assert f" {name} " in listed, name
        assert static is not None and " ".join(static.split()[:4]) in listed, name


def test_commands_still_resolve_and_typos_get_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    root = typer.main.get_command(app)
    assert sorted(root.commands) == sorted(lazy_entries())  # type: ignore[attr-defined]
    assert run(["principal", "--help"]) == 0
    assert "Add a principal" in capsys.readouterr().out
    assert run(["princpal"]) == 2
    assert "Did you mean 'principal'?" in capsys.readouterr().err


def test_a_group_missing_from_the_build_is_left_out(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(main, "GROUPS", (*main.GROUPS, ("govfabric.cli.not_in_this_build", "ghost", "Absent.")))
    assert run(["--help"]) == 0
    assert "ghost" not in capsys.readouterr().out
    assert run(["ghost"]) == 2


def test_revision_check_reads_what_alembic_reads(tmp_path: Path) -> None:
    """The heads `status` (every command) compares the store with, read from the revision files'
    text, are alembic's own; and the store's revisions read by one query are alembic's too."""
    from alembic.runtime.migration import MigrationContext

    from govfabric.fabric import init_workspace
    from govfabric.store import migrate

    assert migrate._graph() is not None  # the fast reader follows every revision file in the tree
    assert migrate.code_heads() == set(migrate._script().get_heads())
    assert migrate._known() == {r.revision for r in migrate._script().walk_revisions()}
    fabric = init_workspace(tmp_path / "ws")
    with fabric.store.engine.connect() as conn:
        assert migrate.current_heads(fabric.store.engine) == set(MigrationContext.configure(conn).get_current_heads())
    assert migrate.state(migrate.current_heads(fabric.store.engine)) == "current"
    fabric.close()


def test_the_help_formatters_stand_ins_build_the_real_thing() -> None:
    """What `light_help_formatter` leaves out of `--help` still works if typer ever calls it."""
    code = ("import sys; from govfabric.cli.main import light_help_formatter; light_help_formatter(); "
            "import typer.rich_utils as r; assert 'rich.markdown' not in sys.modules; "
            "m = r.Markdown('**x**'); import rich.markdown, rich.traceback; "
            "assert type(m) is rich.markdown.Markdown; "
            "tb = r.Traceback.from_exception(ValueError, ValueError('x'), None); "
            "assert type(tb) is rich.traceback.Traceback; print('ok')")
    root = Path(main.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_status_counts_what_the_catalog_lists(capsys: pytest.CaptureFixture[str], demo_home: Path) -> None:
    from govfabric.fabric import connect

    assert run(["--home", str(demo_home), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    fabric = connect(demo_home)
    try:
        assert shown["sources"] == len(fabric.catalog.sources()) > 0
        assert shown["assets"] == len(fabric.catalog.assets(limit=None)) > 0
        assert len(fabric.catalog.assets(limit=None, include_dropped=True)) >= shown["assets"]
    finally:
        fabric.close()


def test_settings_read_the_environment_as_pydantic_settings_did(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings no longer load pydantic-settings (every command paid for it): ``load_settings`` reads
    ``GOVFABRIC_*`` itself, names in any case, the exact upper-case name first; explicit values win."""
    from govfabric.config import load_settings

    (tmp_path / "config.toml").write_text('user = "from_file"\ntrino_user = "file"\n', encoding="utf-8")
    monkeypatch.setenv("GOVFABRIC_TRINO_USER", "env")
    monkeypatch.setenv("govfabric_query_row_limit", "7")
    monkeypatch.setenv("GOVFABRIC_NOT_A_SETTING", "ignored")
    settings = load_settings(tmp_path, store_url="sqlite:////x.db")
    assert (settings.user, settings.trino_user, settings.query_row_limit) == ("from_file", "env", 7)
    assert settings.store_url == "sqlite:////x.db" and settings.home == tmp_path.resolve()
