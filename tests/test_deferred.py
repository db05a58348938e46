"""Deferred imports: importing great-expectations leaves scipy.stats and altair unloaded (≈ 1.2 s of
CPU in every quality run and `govfabric demo`), yet GX's references to them and any later import work.
Bounded by what is imported, in a fresh interpreter (never by timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import govfabric
from govfabric.deferred import deferred

PROBE = """
import json, sys
from govfabric.governance.quality import gx
gx.gx()
before = sorted(m for m in ("scipy.stats._stats_py", "scipy.spatial", "altair.vegalite") if m in sys.modules)
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
entropy = kl.stats.entropy([0.5, 0.5], [0.5, 0.5])  # GX's reference, now the real module
chart = kl.alt.Chart.__name__
import scipy.stats
print(json.dumps({"before": before, "stand_ins": [type(sys.modules[m]).__name__ for m in ("scipy.stats", "altair")],
                  "entropy": float(entropy), "chart": chart, "norm": float(scipy.stats.norm.cdf(0))}))
"""


def test_gx_import_defers_scipy_stats_and_altair() -> None:
    root = Path(govfabric.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["before"] == [], report  # GX loaded without them
    assert report["stand_ins"] == ["module", "module"]  # the real modules once used
    assert report["entropy"] == 0.0 and report["chart"] == "Chart" and report["norm"] == 0.5


def test_stand_in_leaves_sys_modules_and_forwards() -> None:
    name = "govfabric_test_never_imported_json"
    sys.modules.pop(name, None)
    with deferred("json", name) as _:
        assert sys.modules["json"] is json  # already imported: left alone
        stub = sys.modules[name]
    assert name not in sys.modules  # later imports are real ones
    try:
        stub.anything  # noqa: B018 (the first read imports the real module, which does not exist)
    except ModuleNotFoundError as exc:
        assert name in str(exc)
    else:
        raise AssertionError("a stand-in of a missing module must fail on first use")
