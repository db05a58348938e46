"""The CLI in-process for tests: ``govfabric --home HOME --as USER …`` through typer's runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from govfabric.cli.main import app

runner = CliRunner()


def run_ok(home: Path, *args: str, user: str = "steward_mr") -> str:
    """Its output; fails the test with that output unless it exits 0."""
    r = runner.invoke(app, ["--home", str(home), "--as", user, *args])
    assert r.exit_code == 0, r.output
    return r.output
