"""Deferred imports: importing great-expectations leaves scipy.stats and altair unloaded (≈ 1.2 s of
CPU in every quality run and `govfabric demo`), yet GX's references to them and any later import work.
Bounded by what is imported, in a fresh interpreter (never by timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import govfabric
from govfabric.deferred import deferred, deferred_names, without_init

PROBE = """
import json, sys
from govfabric.governance.quality import gx
gx.gx()
before = sorted(m for m in ("scipy.stats._stats_py", "scipy.spatial", "altair.vegalite") if m in sys.modules)
files_before = [m for m in gx.FILE_DATASOURCES if m in sys.modules]
core_before = [m for m in gx.core_expectations() if m in sys.modules]
E = gx.gx().expectations
not_null = E.ExpectColumnValuesToNotBeNull(column="c")  # the first call imports the module; the class registers
from great_expectations.expectations.registry import get_expectation_impl
registered = get_expectation_impl("expect_column_values_to_not_be_null") is type(not_null)
suite = gx.gx().ExpectationSuite(name="s", expectations=[not_null])
round_trip = type(suite.expectations[0].configuration.to_domain_obj()).__name__
core_after = [m.rsplit(".", 1)[1] for m in gx.core_expectations() if m in sys.modules]
ctx = gx.gx().get_context(mode="ephemeral")
pandas_before = "add_pandas" in ctx.data_sources.factories  # its type registered
pandas = ctx.data_sources.add_pandas("p")  # the first ask imports the modules, which register the types
from great_expectations.datasource.fluent import PandasDatasource  # the package's name: the real class now
spark = hasattr(ctx.data_sources, "add_spark")
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
entropy = kl.stats.entropy([0.5, 0.5], [0.5, 0.5])  # GX's reference, now the real module
chart = kl.alt.Chart.__name__
import scipy.stats
print(json.dumps({"before": before, "stand_ins": [type(sys.modules[m]).__name__ for m in ("scipy.stats", "altair")],
                  "entropy": float(entropy), "chart": chart, "norm": float(scipy.stats.norm.cdf(0)),
                  "files_before": files_before, "pandas_before": pandas_before,
                  "pandas": type(pandas).__name__, "is_pandas": isinstance(pandas, PandasDatasource), "spark": spark,
                  "name": PandasDatasource.__name__, "core_before": core_before, "core_after": core_after,
                  "n_core": len(gx.core_expectations()), "registered": registered, "round_trip": round_trip,
                  "is_not_null": isinstance(not_null, E.ExpectColumnValuesToNotBeNull)}))
"""


@cache
def _probe() -> dict[str, Any]:
    root = Path(govfabric.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def test_gx_import_defers_scipy_stats_and_altair() -> None:
    """And GX's pandas and Spark datasources: unloaded after the import; a context's first ask for one of
    their methods (``add_pandas``) imports them, and they register their types as an ordinary import would."""
    report = _probe()
    assert report["before"] == [], report  # GX loaded without them
    assert report["stand_ins"] == ["module", "module"]  # the real modules once used
    assert report["entropy"] == 0.0 and report["chart"] == "Chart" and report["norm"] == 0.5
    assert report["files_before"] == [] and report["pandas_before"] is False, report
    assert report["pandas"] == report["name"] == "PandasDatasource" and report["is_pandas"] and report["spark"]


def test_gx_import_defers_its_core_expectations() -> None:
    """Each of GX's ~60 core expectations loads when govfabric first calls its class (then registered by
    name, as GX looks it up when a suite is read back); one used leaves the others unloaded."""
    report = _probe()
    assert report["n_core"] > 50 and report["core_before"] == [], report
    assert report["registered"] and report["is_not_null"], report
    assert report["round_trip"] == "ExpectColumnValuesToNotBeNull", report
    assert "expect_column_values_to_not_be_null" in report["core_after"], report
    assert report["core_after"] == ["expect_column_values_to_not_be_null"], report


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


LINEAGE_PROBE = """
import json, sys
from govfabric.governance.lineage import events
event = events._event(None, "ns", "job", "QUERY", [], [], sql="select 1")
loaded = sorted(m for m in ("requests", "httpx2", "openlineage.client.client", "openlineage.client.transport")
                if m in sys.modules)
from openlineage.client import OpenLineageClient, set_producer  # the package's own names: its __init__ runs now
import openlineage.client as olc
again = events._event(None, "ns", "job", "QUERY", [], [], sql="select 1")
print(json.dumps({"loaded": loaded, "client": OpenLineageClient.__name__, "same": olc.set_producer is set_producer,
                  "keys": sorted(event), "job": event["job"], "again": again["job"] == event["job"],
                  "producer": event["producer"], "kind": type(sys.modules["openlineage.client"]).__name__}))
"""


def test_lineage_events_skip_openlineage_client_init() -> None:
    """Building an event imports openlineage's facet/event submodules, not its client and HTTP transports
    (requests, httpx: ≈ 0.27 s in `govfabric demo`); the package's own names still work afterwards."""
    root = Path(govfabric.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", LINEAGE_PROBE], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], report
    assert report["client"] == "OpenLineageClient" and report["same"] and report["kind"] == "module"
    assert report["job"]["facets"]["sql"]["query"] == "select 1" and report["again"]
    assert "eventTime" in report["keys"] and "govfabric" in report["producer"]


def test_without_init_imports_submodules_alone_then_runs_init(tmp_path: Path, monkeypatch) -> None:
    """A name the ``__init__`` re-exports, when named, comes from its submodule without the ``__init__``."""
    pkg = tmp_path / "gf_test_pkg_noinit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.gf_test_init_ran = True\nVALUE = 42\nfrom .sub import X, Y\n")
    (pkg / "sub.py").write_text("X = 1\nY = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delattr(sys, "gf_test_init_ran", raising=False)
    try:
        without_init("gf_test_pkg_noinit", {"X": "sub"})
        from gf_test_pkg_noinit import X, sub  # type: ignore[import-not-found]

        assert sub.X == X == 1 and not hasattr(sys, "gf_test_init_ran")
        import gf_test_pkg_noinit  # type: ignore[import-not-found]

        assert gf_test_pkg_noinit.VALUE == 42 and sys.gf_test_init_ran  # type: ignore[attr-defined]
        assert gf_test_pkg_noinit.Y == 2  # not named: from the ``__init__``, which ran on reading VALUE
        assert gf_test_pkg_noinit.sub is sub and type(gf_test_pkg_noinit).__name__ == "module"
        with pytest.raises(AttributeError):
            gf_test_pkg_noinit.missing  # noqa: B018
    finally:
        for name in ("gf_test_pkg_noinit", "gf_test_pkg_noinit.sub"):
            sys.modules.pop(name, None)


CHAIN_PROBE = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
from govfabric.blockchain.service import ChainService
from govfabric.store import Store
home = Path(sys.argv[1])
store = Store(f"sqlite:///{home / 'store.db'}")
store.migrate()
svc = ChainService(store, SimpleNamespace(home=home, chain_url=None))
svc.ensure_ready()
loaded = "aiohttp" in sys.modules
bls_loaded = [m for m in ("py_ecc.bls", "py_ecc.optimized_bls12_381", "eth.precompiles.bls12_381",
                          "py_ecc.bls12_381.bls12_381_pairing") if m in sys.modules]
import eth_keyfile.keyfile
from py_ecc.bls12_381 import bls12_381_curve
max_key = eth_keyfile.keyfile.MAX_V4_PRIVATE_KEY == bls12_381_curve.curve_order - 1
from web3._utils import http_session_manager as hsm
import aiohttp
timeout = hsm.ClientTimeout(3)  # web3's name for it: the real class, imported now
# the BLS12-381 G1 addition precompile (0x0b) of the point at infinity with itself: the real code runs
g1add = svc.chain._w3.eth.call({"to": "0x" + "00" * 19 + "0b", "data": "0x" + "00" * 256, "gas": 100_000})
from eth_keyfile.keyfile import bls
from py_ecc.bls12_381 import pairing, G1, G2, curve_order  # the package's own names: its __init__ runs now
import py_ecc.bls12_381 as curve
print(json.dumps({"max_key": max_key, "pairing": pairing.__module__, "same": curve.curve_order is curve_order,
                  "package": type(curve).__name__,
                  "loaded": loaded, "height": svc.chain.height, "real": isinstance(timeout, aiohttp.ClientTimeout),
                  "check": isinstance(aiohttp.ClientTimeout(1), hsm.ClientTimeout), "bls_loaded": bls_loaded,
                  "g1add": g1add.hex(), "bls_now": "py_ecc.optimized_bls12_381" in sys.modules,
                  "keyfile_bls": bls.SkToPk(1).hex()}))
svc.close()
"""


def test_embedded_chain_starts_without_aiohttp(tmp_path: Path) -> None:
    """web3 imports aiohttp (≈ 0.2 s) for async HTTP providers the embedded chain never uses, eth-keyfile and
    py-evm the BLS12-381 code (≈ 0.17 s): starting the chain leaves both unloaded, and the libraries'
    references to them work once used (a BLS precompile call, eth-keyfile's BLS signer)."""
    root = Path(govfabric.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", CHAIN_PROBE, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] is False and report["height"] > 0, report
    assert report["real"] and report["check"]
    assert report["bls_loaded"] == [] and report["bls_now"], report
    assert report["g1add"] == "00" * 128, report  # the point at infinity (a missing precompile returns nothing)
    assert len(report["keyfile_bls"]) == 96, report  # a 48-byte public key
    assert report["max_key"] and report["same"] and report["package"] == "module", report
    assert report["pairing"] == "py_ecc.bls12_381.bls12_381_pairing", report


def test_deferred_names_proxy_until_used(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "gf_test_names_lib.py").write_text("from gf_test_names_dep import Thing, make\n"
                                                   "def use(x: Thing | None = None):\n    return make(x)\n")
    (tmp_path / "gf_test_names_dep.py").write_text("class Thing:\n    pass\ndef make(x):\n    return x or Thing()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with deferred_names("gf_test_names_dep"):
            import gf_test_names_lib  # type: ignore[import-not-found]
        assert "gf_test_names_dep" not in sys.modules and "deferred" in repr(gf_test_names_lib.Thing)
        made = gf_test_names_lib.use()  # the first call imports the real module
        assert isinstance(made, gf_test_names_lib.Thing) and "gf_test_names_dep" in sys.modules
        assert type(made).__name__ == "Thing"
    finally:
        for name in ("gf_test_names_lib", "gf_test_names_dep"):
            sys.modules.pop(name, None)
