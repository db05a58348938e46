"""Scheduled jobs run by a real `govfabric scheduler` process: due jobs run, runs are recorded,
one scheduler at a time, SIGTERM stops it cleanly; exports write governed data to files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from govfabric.errors import ValidationFailed
from govfabric.governance.schedule.service import Scheduler, export_query, register_kind
from govfabric.governance.schedule.timing import next_cron, parse_every

CLI = str(Path(sys.executable).parent / "govfabric")


def test_timing() -> None:
    assert parse_every("90s") == 90 and parse_every("1h") == 3600 and parse_every("2") == 2
    for bad in ("0s", "1w", "soon"):
        with pytest.raises(ValidationFailed):
            parse_every(bad)
    t = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
    assert next_cron("*/15 * * * *", t) == datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    assert next_cron("0 2 * * 1", t) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # next Monday
    with pytest.raises(ValidationFailed):
        next_cron("61 * * * *", t)


def _vt(demo) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"qymc": "name", "qx": "district"}, only=["qymc", "qx"])


def test_export_and_failed_runs_are_recorded(demo, demo_home) -> None:
    _vt(demo)
    info = export_query(demo, "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district",
                        "parquet", "d.parquet")
    table = pq.read_table(demo_home / "exports" / "d.parquet")
    assert table.column_names == ["district", "n"] and table.num_rows == info["rows"] > 0
    register_kind("boom", lambda f, t, o: 1 / 0)
    sched = Scheduler(demo)
    sched.add("boom", "x", every="1h")
    with pytest.raises(ValidationFailed):
        sched.add("export", "SELECT 1 FROM market.enterprise", every="1h", options={"format": "xls", "output": "x"})
    with pytest.raises(ValidationFailed):
        sched.add("nope", "x", every="1h")
    [run] = sched.run_due()
    assert run["status"] == "error" and "ZeroDivisionError" in run["error"]
    assert sched.jobs()[0]["next_run_at"] > datetime.now(UTC)
    assert sched.run_due() == []  # not due again for an hour


@pytest.mark.slow
def test_scheduler_process(demo, demo_home, tmp_path) -> None:
    _vt(demo)
    out = demo_home / "exports" / "districts.csv"
    sched = Scheduler(demo)
    sched.add("export", "SELECT district, name FROM market.enterprise", every="1s",
              options={"format": "csv", "output": str(out)})
    sched.add("harvest", "mr_db", every="2s")
    env = {**os.environ, "GOVFABRIC_HOME": str(demo_home), "GOVFABRIC_USER": "steward_mr"}
    proc = subprocess.Popen([CLI, "scheduler", "--tick", "0.2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            runs = sched.runs()
            if sum(r["job"].startswith("export") for r in runs) >= 2 and any(r["job"].startswith("harvest")
                                                                              for r in runs):
                break
            time.sleep(0.3)
        second = subprocess.run([CLI, "scheduler", "--tick", "0.2"], env=env, capture_output=True, text=True,
                                timeout=60)
        assert second.returncode != 0 and "already running" in second.stderr + second.stdout
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "scheduler stopped" in stdout
    runs = sched.runs()
    assert all(r["status"] == "ok" for r in runs), runs
    assert sum(r["job"].startswith("export") for r in runs) >= 2
    assert pacsv.read_csv(out).column_names == ["district", "name"]
