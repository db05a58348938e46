"""No traceback, ever: every failure of the command line is one ``error:`` line and a non-zero exit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from govfabric.cli.main import run


def gf(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = run(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, text = gf(capsys, *argv)
    assert code == 1, text
    assert "Traceback" not in text and text.startswith("error:"), text
    assert len(text.strip().splitlines()) == 1, text
    return text


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-errors") / "ws"
    assert run(["--home", str(home), "init"]) == 0
    return home


def test_missing_files(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    text = refused(capsys, "mpc", "task", "create", str(tmp_path / "nosuch.json"), "--requester", "http://127.0.0.1:9",
                   "--state", str(tmp_path / "st"))
    assert "nosuch.json does not exist" in text
    text = refused(capsys, "mpc", "verify", str(tmp_path / "report.json"))
    assert "report.json" in text and "No such file" in text
    text = refused(capsys, "--home", str(ws), "chain", "verify-proof", str(tmp_path / "bundle.json"), "00")
    assert "bundle.json does not exist" in text


def test_bad_json_options(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    assert "--params is not valid JSON" in refused(capsys, "--home", str(ws), "policy", "mask", "a.b.c", "partial",
                                                   "--params", "{bad")
    assert "the rule is not valid JSON" in refused(capsys, "--home", str(ws), "quality", "rule", "add", "x", "{bad")
    spec = tmp_path / "spec.json"
    spec.write_text("{not json", encoding="utf-8")
    assert "is not valid JSON" in refused(capsys, "mpc", "task", "create", str(spec), "--requester",
                                          "http://127.0.0.1:9", "--state", str(tmp_path / "st"))


def test_output_folder_missing(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    text = refused(capsys, "--home", str(ws), "lineage", "export", "--format", "html", "-o",
                   str(tmp_path / "nosuch" / "l.html"))
    assert "nosuch" in text


def test_corrupt_store(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    for name in ("config.toml", "secret.key"):
        (home / name).write_bytes((ws / name).read_bytes())
    (home / "store.db").write_bytes(os.urandom(8192))
    for argv in (["catalog", "list"], ["status"], ["audit", "verify"]):
        text = refused(capsys, "--home", str(home), *argv)
        assert "store.db is not a govfabric store" in text and "restore it" in text


def test_malformed_key(capsys: pytest.CaptureFixture[str], ws: Path, tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    # the store's -wal file too: a SQLite store's latest writes may still be only there
    for name in ("config.toml", "store.db", "store.db-wal", "audit.head"):
        if (ws / name).exists():
            (home / name).write_bytes((ws / name).read_bytes())
    (home / "secret.key").write_text("not a key\n")
    for argv in (["catalog", "list"], ["audit", "verify"]):
        text = refused(capsys, "--home", str(home), *argv)
        assert "secret.key is not a valid workspace key" in text


@pytest.mark.parametrize("argv", [["catalog", "list"], ["status"], ["audit", "list"], ["principal", "list"],
                                  ["engine", "status"], ["quality", "orders", "list"]])
def test_unknown_principal_refused_by_read_commands(capsys: pytest.CaptureFixture[str], ws: Path,
                                                    argv: list[str]) -> None:
    text = refused(capsys, "--home", str(ws), "--as", "nobody", *argv)
    assert "'nobody' is not a principal" in text


def test_last_resort_handler(capsys: pytest.CaptureFixture[str], ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from govfabric.catalog.service import Catalog

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("something nobody expected\nsecond line")

    monkeypatch.setattr(Catalog, "assets", boom)
    text = refused(capsys, "--home", str(ws), "catalog", "list")
    assert "RuntimeError: something nobody expected" in text and "--debug" in text
    code, text = gf(capsys, "--home", str(ws), "--debug", "catalog", "list")
    assert code == 1 and "Traceback" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from govfabric import __version__

    code, text = gf(capsys, "--version")
    assert code == 0 and text.strip() == f"govfabric {__version__}"
