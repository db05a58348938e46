"""A harvest killed with SIGKILL half-way leaves no partial asset and no lost event; the next
harvest takes the dead process's lock over."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govfabric.fabric import connect, init_workspace

TABLES = 800


def _big_source(path: Path) -> None:
    con = sqlite3.connect(path)
    cols = ", ".join(f"c{i} TEXT" for i in range(12))
    con.executescript("".join(f"CREATE TABLE t{i:05d} ({cols});" for i in range(TABLES)))
    con.close()


def _workspace(home: Path, db: Path) -> None:
    f = init_workspace(home)
    f.add_principal("steward1", ["steward"])
    f.as_user("steward1").catalog.add_source("big", f"sqlite:///{db}")
    f.close()


ENV = {**os.environ, "GOVFABRIC_PII_SCAN_ON_HARVEST": "false"}  # kill the harvest, not the scan after it


def _harvest_cmd(home: Path) -> list[str]:
    return [sys.executable, "-m", "govfabric.cli.main", "--home", str(home), "--as", "steward1",
            "catalog", "harvest", "big", "--json"]


def _check_consistent(home: Path) -> int:
    with connect(home, "steward1") as f:
        n = len(f.catalog.assets(source="big", limit=None))
        assert n in (0, TABLES), f"partial harvest visible: {n} assets"
        report = f.audit.verify()
        assert report.ok, report.problems
        harvests = f.audit.events(action="catalog.harvest")
        assert (len(harvests) >= 1) == bool(n)
        return n


@pytest.mark.slow
def test_sigkill_mid_harvest(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    _big_source(db)
    ref = tmp_path / "ref"
    _workspace(ref, db)
    t0 = time.perf_counter()
    subprocess.run(_harvest_cmd(ref), check=True, capture_output=True, env=ENV)
    full = time.perf_counter() - t0
    assert _check_consistent(ref) == TABLES

    home = tmp_path / "victim"
    _workspace(home, db)
    for fraction in (0.6, 0.85):
        proc = subprocess.Popen(_harvest_cmd(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        time.sleep(full * fraction)
        proc.kill()
        proc.wait()
        if _check_consistent(home):
            break  # it finished before the kill; nothing more to break
    done = subprocess.run(_harvest_cmd(home), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    assert _check_consistent(home) == TABLES
