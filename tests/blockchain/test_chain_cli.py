"""`govfabric chain …` on a real workspace (embedded chain): anchor, verify, tamper, history, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govfabric.cli.chain import app
from govfabric.fabric import init_workspace


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "ws"
    init_workspace(home).close()
    monkeypatch.setenv("GOVFABRIC_HOME", str(home))
    monkeypatch.delenv("GOVFABRIC_CHAIN_URL", raising=False)
    return home


def run(*args: str, code: int = 0) -> dict | list:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, result.output
    return json.loads(result.output)


def test_anchor_verify_tamper_files_and_audit(workspace: Path) -> None:
    data = workspace / "data"
    data.mkdir()
    (data / "enterprises.csv").write_text("uscc,name\n91110000600037341L,示例公司\n", encoding="utf-8")
    (data / "cases.csv").write_text("case,status\n1,open\n", encoding="utf-8")
    status = run("status")
    assert status["chain_key"] == "embedded" and set(status["contracts"]) >= {"AnchorRegistry"}
    receipt = run("anchor", "--kind", "file", str(data / "enterprises.csv"), str(data / "cases.csv"))
    assert receipt["item_count"] == 2
    ok = run("verify", "--kind", "file", str(data / "cases.csv"))
    assert ok["ok"] and ok["block_number"] == receipt["block_number"]
    with (data / "cases.csv").open("a") as fh:
        fh.write("2,closed\n")
    bad = run("verify", "--kind", "file", str(data / "cases.csv"), code=1)
    assert "content digest differs" in bad["message"]
    audit = run("anchor", "audit")
    assert audit["kind"] == "audit" and audit["item_count"] >= 1
    assert run("verify", "--kind", "audit", "1")["ok"]


@pytest.mark.slow
def test_demo_shows_the_tampered_copy_failing(workspace: Path) -> None:
    out = run("demo")
    assert out["tamper"]["before"]["ok"] is True
    assert out["tamper"]["after_tampering"]["ok"] is False
    assert "content digest differs" in out["tamper"]["after_tampering"]["message"]
    assert out["granted"] is True
    assert [e["event"] for e in out["history"]] == ["Granted", "ShareRecorded"]
    assert isinstance(out["audit"], dict) and out["audit"]["item_count"] >= 1
