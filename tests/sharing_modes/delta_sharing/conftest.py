"""The demo workspace with ``market.enterprise`` shared as ``gov.market.enterprise``; ``analyst1``
granted it with the legal representative's ID number masked and Chaoyang district only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MASKED = "fddbr_sfzh"
ROW_FILTER = "district = '朝阳区'"
VENV = Path(__file__).resolve().parents[3] / ".cache" / "delta-sharing-venv"
CLIENT = "delta-sharing==1.4.2"


@pytest.fixture
def shared(demo: Any) -> Any:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"tyshxydm": "uscc", "qymc": "name", "zczb": "capital", "clrq": "founded",
                                       "qx": "district"},
                              only=["tyshxydm", "qymc", "fddbr_sfzh", "zczb", "clrq", "qx", "gxsj"])
    demo.access.set_mask("market.enterprise", MASKED, "resident_id")
    demo.access.grant("analyst1", "market.enterprise", row_filter=ROW_FILTER)
    demo.delta_sharing.create_share("gov")
    demo.delta_sharing.add_table("gov.market.enterprise", "market.enterprise")
    return demo


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The official client in its own venv (it caps pandas and pyarrow), created once and reused."""
    py = _python(VENV)
    if py.exists() and subprocess.run([py, "-c", "import delta_sharing"], capture_output=True).returncode == 0:
        return py
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run([py, "-m", "pip", "install", "-q", CLIENT], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        if "Could not find" in done.stderr or "connection" in done.stderr.lower() or "resolve" in done.stderr.lower():
            pytest.skip(f"pip could not reach a package index to install {CLIENT}: {done.stderr.strip()[-300:]}")
        raise AssertionError(done.stderr)
    return py
