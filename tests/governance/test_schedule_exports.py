"""Scheduled exports write only under the export root (hole 11 of issue 10): an analyst's export
with ``-o <home>/secret.key`` once overwrote the workspace key and made it 0644."""

from __future__ import annotations

import stat
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from govfabric.cli.main import app
from govfabric.errors import ValidationFailed
from govfabric.governance.schedule.models import Job
from govfabric.governance.schedule.service import Scheduler
from govfabric.store.base import utcnow

SQL = "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district"


@pytest.fixture
def analyst(demo):
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"qymc": "name", "qx": "district"}, only=["qymc", "qx"])
    demo.access.grant("analyst1", "market.enterprise")
    return demo.as_user("analyst1")


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), stat.S_IMODE(path.stat().st_mode)


def test_the_secret_key_attack_is_refused_when_scheduled_and_when_run(analyst, demo_home: Path) -> None:
    key = demo_home / "secret.key"
    before = _snapshot(key)
    sched = Scheduler(analyst)
    for target in (str(key), "../secret.key", str(demo_home / "store.db"), "/tmp/elsewhere.csv"):
        with pytest.raises(ValidationFailed, match="export root"):
            sched.add("export", SQL, every="1h", name=f"x{len(target)}", options={"format": "csv",
                                                                                   "output": target})
    # a job stored before the fix (or written around the service) is refused when it runs
    with analyst.store.session() as s:
        s.add(Job(name="old", kind="export", target=SQL, every_s=3600, options={"format": "csv", "output": str(key)},
                  next_run_at=utcnow(), created_by="analyst1"))
    run = sched.run_job("old")
    assert run["status"] == "error" and "export root" in run["error"]
    assert _snapshot(key) == before
    r = CliRunner().invoke(app, ["schedule", "add", "export", SQL, "--format", "csv", "-o", str(key), "--every",
                                 "1h"], env={"GOVFABRIC_HOME": str(demo_home), "GOVFABRIC_USER": "analyst1"})
    assert r.exit_code != 0 and "export root" in str(r.exception) + r.output
    assert _snapshot(key) == before


def test_a_relative_export_lands_in_home_exports_0640(analyst, demo_home: Path) -> None:
    sched = Scheduler(analyst)
    sched.add("export", SQL, every="1h", name="daily", options={"format": "csv", "output": "daily/d.csv"})
    assert sched.run_job("daily")["status"] == "ok"
    out = demo_home / "exports" / "daily" / "d.csv"
    assert pacsv.read_csv(out).column_names == ["district", "n"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert [p.name for p in out.parent.iterdir()] == ["d.csv"]


def test_a_symlink_in_the_root_made_after_scheduling_is_refused_at_run_time(analyst, demo_home: Path) -> None:
    key = demo_home / "secret.key"
    before = _snapshot(key)
    sched = Scheduler(analyst)
    sched.add("export", SQL, every="1h", name="later", options={"format": "csv", "output": "sub/k.csv"})
    sub = demo_home / "exports" / "sub"
    sub.rmdir()
    sub.symlink_to(demo_home, target_is_directory=True)
    (demo_home / "k.csv").symlink_to(key)
    run = sched.run_job("later")
    assert run["status"] == "error" and "export root" in run["error"]
    assert _snapshot(key) == before


def test_sql_output_is_confined_to_the_export_root(analyst, demo_home: Path) -> None:
    env = {"GOVFABRIC_HOME": str(demo_home), "GOVFABRIC_USER": "analyst1"}
    key = demo_home / "secret.key"
    before = _snapshot(key)
    runner = CliRunner()
    for target in (str(key), "../secret.key", "../config.toml"):
        r = runner.invoke(app, ["sql", SQL, "--format", "csv", "-o", target], env=env)
        assert r.exit_code != 0 and "export root" in str(r.exception) + r.output
    assert _snapshot(key) == before
    r = runner.invoke(app, ["sql", SQL, "--format", "json", "-o", "mine.jsonl"], env=env)
    assert r.exit_code == 0, r.output
    out = demo_home / "exports" / "mine.jsonl"
    assert out.read_text(encoding="utf-8").count("\n") > 1 and stat.S_IMODE(out.stat().st_mode) == 0o640
