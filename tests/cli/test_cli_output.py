"""What the command line prints: JSON everywhere a list is shown, result names as DuckDB gives them,
plain text when redirected, tables that fold at 80 columns, help on every command."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import typer

from govfabric.cli.main import app, run

STEWARD = "steward_mr"


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str, user: str | None = STEWARD) -> tuple[int, str, str]:
    code = run(["--home", str(home)] + (["--as", user] if user else []) + list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def ws(capsys: pytest.CaptureFixture[str], demo_home: Path) -> Path:
    code, _, err = gf(capsys, demo_home, "vt", "create", "market.enterprise", "--from", "mr_db.main.t_qy_jbxx")
    assert code == 0, err
    return demo_home


def test_every_command_has_help() -> None:
    missing = []

    def walk(cmd: object, path: list[str]) -> None:
        if not (getattr(cmd, "help", None) or getattr(cmd, "short_help", None)):
            missing.append(" ".join(path))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["govfabric"])
    assert not missing, missing


def test_sql_formats_and_aggregate_names(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    q = "SELECT qx, count(*), sum(zczb), max(zczb) AS top, 1 + 1 FROM market.enterprise GROUP BY qx ORDER BY qx"
    code, out, err = gf(capsys, ws, "sql", q, "--format", "json")
    assert code == 0, err
    rows = json.loads(out)  # one JSON array
    assert isinstance(rows, list) and len(rows) > 1
    assert list(rows[0]) == ["qx", "count_star()", "sum(zczb)", "top", "(1 + 1)"]
    code, out, _ = gf(capsys, ws, "sql", q, "--format", "jsonl")
    assert [json.loads(line) for line in out.splitlines()] == rows
    code, out, _ = gf(capsys, ws, "sql", "SELECT qx FROM market.enterprise WHERE 1 = 0", "--format", "json")
    assert code == 0 and json.loads(out) == []


def test_names_match_duckdb() -> None:
    import duckdb
    import sqlglot

    from govfabric.virtualization.pipeline import duckdb_name

    con = duckdb.connect()
    con.execute("CREATE TABLE t (zczb DOUBLE, qymc VARCHAR)")
    q = ("SELECT count(*), count(DISTINCT qymc), sum(zczb), avg(zczb), min(qymc), upper(qymc), zczb * 2 + 1, "
         "sum(zczb) / count(*), 3, 'x', qymc IS NULL FROM t GROUP BY qymc, zczb")
    names = [d[0] for d in con.execute(q).description]
    assert [duckdb_name(e) for e in sqlglot.parse_one(q, "duckdb").expressions] == names


def test_plain_text_when_redirected_and_folded_at_80(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    code, out, err = gf(capsys, ws, "catalog", "list")
    assert code == 0 and "\x1b[" not in out + err
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out  # folded, never cut
    first_column = "".join(line.split("│")[1].strip() for line in lines if line.startswith("│"))
    assert "mr_db.main.t_qy_jbxx" in first_column  # the whole qualified name, over several lines
    code, out, err = gf(capsys, ws, "--as", "nobody", "catalog", "list", user=None)
    assert code == 1 and "\x1b[" not in out + err
    code, out, err = gf(capsys, ws, "catalog", "harvest", "mr_db")  # a progress bar, when on a terminal
    assert code == 0 and err == "", repr(err)  # no blank line left by a progress bar


def test_quality_flags_json_and_data_docs(capsys: pytest.CaptureFixture[str], ws: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    asset = "mr_db.main.t_qy_jbxx"
    code, out, err = gf(capsys, ws, "quality", "rule", "add", asset, "--unique", "qx", "--not-null", "qymc",
                        "--format", "tyshxydm:uscc", "--format", "qx:/^x$/")
    assert code == 0, err
    code, out, _ = gf(capsys, ws, "quality", "rule", "list", asset, "--json")
    rules = {r["name"]: r for r in json.loads(out)}
    assert set(rules) == {"unique_qx", "not_null_qymc", "format_uscc_tyshxydm", "format_pattern_qx"}
    assert rules["format_pattern_qx"]["spec"]["pattern"] == "^x$"
    code, _, err = gf(capsys, ws, "quality", "rule", "add", asset, "--format", "qx")
    assert code == 1 and "COL:uscc" in err
    with caplog.at_level(logging.ERROR):
        code, out, err = gf(capsys, ws, "quality", "run", asset, "--json")
    assert code == 1 and "Traceback" not in err  # rules failed: exit 1
    summary = json.loads(out)
    assert summary["rules"] == 4 and summary["failed"] == 2 and isinstance(summary["duration_ms"], int)
    assert "unexpected_percent" not in caplog.text, "a rule's Data Docs section failed to render"
    page = next(Path(summary["docs"]).parent.glob("validations/**/*.html")).read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", page)
    assert "values must be unique" in text and "never be null" in text
    assert text.count("unexpected values found") == 2  # both failing rules rendered whole
    code, out, _ = gf(capsys, ws, "quality", "results", "--json")
    assert {r["rule"]: r["success"] for r in json.loads(out)}["unique_qx"] is False
    code, out, _ = gf(capsys, ws, "quality", "orders", "list", "--json")
    assert code == 0 and len(json.loads(out)) == 2
    code, out, _ = gf(capsys, ws, "quality", "run", asset, "--no-docs")
    assert re.search(r"passed in \d+(\.\d)? (ms|s)\b", out), out


def test_metadata_show_json(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    code, out, err = gf(capsys, ws, "metadata", "show", "mr_db.main.t_qy_jbxx", "--json")
    assert code == 0, err
    assert json.loads(out)


def test_engine_status_never_none_ms(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    code, out, err = gf(capsys, ws, "engine", "status")
    assert code == 0, err
    assert "None ms" not in out and "no queries yet" in out
    gf(capsys, ws, "sql", "SELECT count(*) FROM market.enterprise")
    code, out, _ = gf(capsys, ws, "engine", "status")
    assert "None" not in out and re.search(r"p50 \d+(\.\d)? (ms|s)", out)


def test_chain_history_names(capsys: pytest.CaptureFixture[str], ws: Path) -> None:
    code, _, err = gf(capsys, ws, "chain", "history", "no.such.thing")
    assert code == 1 and "neither a catalog asset nor a virtual table" in err
    code, by_vt, err = gf(capsys, ws, "chain", "history", "market.enterprise")
    assert code == 0, err
    code, by_asset, _ = gf(capsys, ws, "chain", "history", "mr_db.main.t_qy_jbxx")
    assert json.loads(by_vt) == json.loads(by_asset)


def test_mpc_serve_says_where_and_what_is_missing(tmp_path: Path) -> None:
    from govfabric.mpc.serve import build_party, startup_lines

    party = build_party("provider", tmp_path / "st", None, None, "ed25519", None)
    lines = startup_lines(party, "provider", "127.0.0.1", 7105, None)
    assert "listening on http://127.0.0.1:7105" in lines[0]
    assert any("directory" in x and "missing" in x for x in lines) and any("--data" in x for x in lines)


def test_mpc_demo_removes_its_temporary_folder(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[Path] = []

    def flow(workdir: Path, *, echo: object, alg: str) -> None:  # the CLI's part only: not the MPC flow
        (workdir / "report.json").write_text("{}")
        used.append(workdir)

    monkeypatch.setattr("govfabric.mpc.demo.run", flow)
    assert run(["mpc", "demo"]) == 0
    assert used and not used[0].exists()
    assert f"removed the temporary folder {used[0]}" in capsys.readouterr().out


def test_quality_run_shows_progress(capsys: pytest.CaptureFixture[str], ws: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import govfabric.cli.common as common

    screen = io.StringIO()
    monkeypatch.setattr(common, "interactive", lambda: True)  # as on a terminal
    monkeypatch.setattr(common, "err_console", Console(file=screen, force_terminal=True, width=100))
    gf(capsys, ws, "quality", "run", "mr_db.main.t_qy_jbxx", "--no-docs")
    assert "checking the rules of mr_db.main.t_qy_jbxx" in screen.getvalue()
