"""Outputs the user names by path: exports only under the export root, never over workspace files,
mode 0640 whatever the umask, written atomically (hole 11 of issue 10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from govfabric.config import load_settings
from govfabric.errors import ValidationFailed
from govfabric.outputs import atomic_open, export_path, report_path, write_report


@pytest.fixture
def settings(tmp_path: Path):
    home = tmp_path / "ws"
    home.mkdir()
    for name in ("config.toml", "secret.key", "store.db"):
        (home / name).write_bytes(b"# keep me")
    return load_settings(home)


def test_relative_paths_land_in_home_exports(settings) -> None:
    target = export_path(settings, "reports/out.csv")
    assert target == settings.home / "exports" / "reports" / "out.csv"
    assert target.parent.is_dir()


@pytest.mark.parametrize("given", ["../secret.key", "../../elsewhere.csv", "a/../../config.toml"])
def test_dot_dot_escapes_are_refused(settings, given: str) -> None:
    with pytest.raises(ValidationFailed, match="only under the export root"):
        export_path(settings, given)


def test_absolute_paths_outside_the_root_are_refused(settings, tmp_path: Path) -> None:
    for given in (settings.home / "secret.key", tmp_path / "out.csv", Path("/etc/passwd")):
        with pytest.raises(ValidationFailed, match="only under the export root"):
            export_path(settings, str(given))
    inside = settings.home / "exports" / "x.parquet"
    assert export_path(settings, str(inside)) == inside


def test_a_symlink_inside_the_root_pointing_out_is_refused(settings, tmp_path: Path) -> None:
    root = settings.home / "exports"
    root.mkdir()
    (root / "key.csv").symlink_to(settings.home / "secret.key")
    (root / "out").symlink_to(tmp_path, target_is_directory=True)
    for given in ("key.csv", "out/x.csv", str(root / "key.csv")):
        with pytest.raises(ValidationFailed, match="only under the export root"):
            export_path(settings, given)
    assert (settings.home / "secret.key").read_bytes() == b"# keep me"


def test_the_root_may_not_hold_the_workspace(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "secret.key").write_bytes(b"k")
    for root in (str(home), str(tmp_path)):
        with pytest.raises(ValidationFailed, match="contains it"):
            export_path(load_settings(home, export_root=root), "secret.key")
    # a root outside the home is fine, but the key file configured inside it is still protected
    shared = tmp_path / "shared"
    s = load_settings(home, export_root=str(shared), key_file=str(shared / "k.key"))
    with pytest.raises(ValidationFailed, match="never overwritten"):
        export_path(s, "k.key")
    assert export_path(s, "a.csv") == shared / "a.csv"


def test_files_are_0640_whatever_the_umask_and_atomic(settings) -> None:
    target = export_path(settings, "a.csv")
    old = os.umask(0)
    try:
        with atomic_open(target) as fh:
            fh.write(b"x,y\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_bytes() == b"x,y\n"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"x,y\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.csv"]  # no temporary file left


def test_reports_go_where_asked_but_never_onto_workspace_files(settings, tmp_path: Path) -> None:
    page = write_report(settings, tmp_path / "lineage.html", "<html/>")
    assert page.read_text() == "<html/>" and stat.S_IMODE(page.stat().st_mode) == 0o640
    link = tmp_path / "innocent.html"
    link.symlink_to(settings.home / "config.toml")
    for given in (settings.home / "secret.key", settings.home / "store.db", settings.home / "new.html", link):
        with pytest.raises(ValidationFailed, match="never overwritten"):
            report_path(settings, given)
    assert (settings.home / "config.toml").read_bytes() == b"# keep me"
    (settings.home / "exports").mkdir()
    assert report_path(settings, settings.home / "exports" / "g.dot").name == "g.dot"
