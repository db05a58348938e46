"""Every benchmark script runs at its smallest size (issue 15 item 7): catches breakage, asserts no
timing. Each runs as a subprocess, as a user would run it, with its results written to a temporary
directory (``$GOVFABRIC_BENCH_RESULTS``), never to ``benchmarks/results``. Services come from the
same variables as the other tests (tests/infra/services.py); tools CI lacks (``wrk``) are left out by
the scripts' own flags (``--skip-http``). The slow ones are marked ``slow`` and run in CI too."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from infra.services import require_pg_url, require_rpc_url, require_trino_url

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
NOT_SCRIPTS = {"common.py"}  # helpers; anchors/ holds the anchors the scripts start themselves


class Smoke(NamedTuple):
    args: list[str]  # {pg}, {trino}, {rpc} are replaced by the services' URLs
    writes: bool = True  # leaves <name>.json in the results directory
    slow: bool = False
    timeout: int = 240


SMOKES: dict[str, Smoke] = {
    "bench_plan_size.py": Smoke(["--sizes", "100", "200", "--repeat", "1"], writes=False),
    "catalog_harvest.py": Smoke(["--tables", "12", "--columns", "4", "--store", "both", "--pg-url", "{pg}"],
                                slow=True),
    "catalog_search.py": Smoke(["--assets", "200", "--backends", "sqlite,pg", "--pg-url", "{pg}"], slow=True),
    "chain_anchor.py": Smoke(["--tx", "3", "--rpc-url", "{rpc}"]),
    "chain_merkle.py": Smoke(["--records", "1000", "--proofs", "10"]),
    "delta_sharing_load.py": Smoke(["--rows", "1000"], slow=True),
    "direct_lookup.py": Smoke(["--pg", "{pg}", "--rows", "1000", "--calls", "5"], writes=False),
    "lineage_impact.py": Smoke(["--smoke"]),
    "mpc_mean.py": Smoke(["--values", "1000", "--providers", "3"], slow=True),
    "mpc_psi.py": Smoke(["--n", "100"]),
    "pii_detection.py": Smoke(["--sizes", "1000", "--sample", "100", "--repeat", "1"]),
    "portal_search.py": Smoke(["--assets", "200"], slow=True),
    "prefill_form.py": Smoke(["--rows", "200", "--calls", "5"]),
    "quality_pushdown.py": Smoke(["--rows", "10000", "--pandas-rows", "10000"], slow=True),
    "query_overhead.py": Smoke(["--rows", "1000", "--calls", "5", "--store", "sqlite,pg", "--pg-url", "{pg}"]),
    "service_download.py": Smoke(["--rows", "1000"]),
    "service_lookup.py": Smoke(["--rows", "1000", "--calls", "5", "--skip-http", "--store", "pg",
                                "--pg-url", "{pg}"], slow=True),
    "service_push.py": Smoke(["--rows", "100"]),
    "sql_pipeline_overhead.py": Smoke(["--repeat", "1"]),
    "sql_stream.py": Smoke(["--smoke"], writes=False),
    "tpch_virtual.py": Smoke(["--sf", "0.01", "--trino-sf", "0.01", "--repeat", "1", "--queries", "1,6",
                              "--pg-url", "{pg}", "--trino-url", "{trino}"], slow=True, timeout=420),
}
SERVICES: dict[str, Callable[[], str]] = {"{pg}": require_pg_url, "{trino}": require_trino_url,
                                          "{rpc}": require_rpc_url}


def test_every_benchmark_script_has_a_smoke() -> None:
    scripts = {p.name for p in BENCH.glob("*.py")} - NOT_SCRIPTS
    assert scripts == set(SMOKES), "add the new script's smallest size to SMOKES (or drop the gone one)"


def _params() -> list[object]:
    return [pytest.param(name, marks=[pytest.mark.slow] if s.slow else [], id=name.removesuffix(".py"))
            for name, s in sorted(SMOKES.items())]


@pytest.mark.parametrize("name", _params())
def test_benchmark_runs_at_its_smallest_size(name: str, tmp_path: Path) -> None:
    smoke = SMOKES[name]
    args = [SERVICES[a]() if a in SERVICES else a for a in smoke.args]
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "GOVFABRIC_BENCH_RESULTS": str(results), "GOVFABRIC_HOME": str(tmp_path / "home"),
           "GX_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([sys.executable, str(BENCH / name), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=smoke.timeout)
    assert done.returncode == 0, f"{name} {' '.join(smoke.args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if smoke.writes:
        assert (results / name.replace(".py", ".json")).is_file(), f"{name} wrote no results to {results}"
