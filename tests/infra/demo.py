"""The demo workspace for tests: private copies of the session's template (``demo_template`` in
tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_demo(demo_template: Path, home: Path) -> Path:
    """Copy the demo workspace's store to ``home`` (a new folder); data files and extensions are shared."""
    home.mkdir()
    for name in ("config.toml", "secret.key", "store.db", "audit.head"):
        shutil.copy2(demo_template / name, home / name)
    if (demo_template / "chain").is_dir():  # the demo's grant is on its chain: the keys go with the store
        shutil.copytree(demo_template / "chain", home / "chain")
    (home / "duckdb_extensions").symlink_to(demo_template / "duckdb_extensions", target_is_directory=True)
    return home
