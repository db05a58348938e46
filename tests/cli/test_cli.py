"""The command line: JSON on listings, one clear error line and a non-zero exit on bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from govfabric.cli.main import run


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str, user: str | None = None) -> tuple[int, str, str]:
    argv = ["--home", str(home)] + (["--as", user] if user else []) + list(args)
    code = run(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_workspace_catalog_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = tmp_path / "ws"
    assert gf(capsys, home, "init")[0] == 0
    code, out, _ = gf(capsys, home, "status", "--json")
    assert code == 0 and json.loads(out)["user"] == "admin"
    assert gf(capsys, home, "principal", "add", "s1", "--role", "steward", "--department", "市场监管局")[0] == 0
    db = tmp_path / "mr.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t_yyzz (tyshxydm TEXT, qymc TEXT)")
    con.close()
    assert gf(capsys, home, "source", "add", "mr", f"sqlite:///{db}", user="s1")[0] == 0
    code, out, _ = gf(capsys, home, "catalog", "harvest", "mr", "--json", user="s1")
    assert code == 0 and json.loads(out)["added"] == 1
    assert gf(capsys, home, "catalog", "annotate", "t_yyzz", "--cn-name", "企业营业执照信息", user="s1")[0] == 0
    assert gf(capsys, home, "catalog", "classify", "t_yyzz", "--domain", "电子证照", "--sharing", "有条件共享",
              user="s1")[0] == 0
    code, out, _ = gf(capsys, home, "catalog", "list", "--domain", "e_licences", "--json")
    assert [a["qualified_name"] for a in json.loads(out)] == ["mr.main.t_yyzz"]
    code, out, _ = gf(capsys, home, "catalog", "search", "营业执照", "--json")
    hit = json.loads(out)[0]
    assert hit["qualified_name"] == "mr.main.t_yyzz" and "<em>营业执照</em>" in hit["matches"][0]["text"]
    code, out, _ = gf(capsys, home, "catalog", "show", "t_yyzz", "--json")
    assert json.loads(out)["classification"]["sharing_class"] == "conditional"
    assert gf(capsys, home, "catalog", "favorite", "add", "t_yyzz", user="s1")[0] == 0
    code, out, _ = gf(capsys, home, "catalog", "favorite", "list", "--json", user="s1")
    assert len(json.loads(out)) == 1
    # errors: one line on stderr, non-zero exit, no traceback
    code, out, err = gf(capsys, home, "catalog", "show", "nope")
    assert code != 0 and "no asset 'nope'" in err and "Traceback" not in err
    code, _, err = gf(capsys, home, "source", "add", "x", "/definitely/missing", user="s1")
    assert code != 0 and "does not exist" in err
    code, _, err = gf(capsys, home, "catalog", "harvest", "mr", user="nobody")
    assert code != 0 and "not a principal" in err
    code, out, _ = gf(capsys, home, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_audit_verify_fails_on_tampering(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    home = tmp_path / "ws"
    gf(capsys, home, "init")
    gf(capsys, home, "principal", "add", "a1", "--role", "analyst")
    con = sqlite3.connect(home / "store.db")
    con.execute("UPDATE auth_audit_events SET details = '{}' WHERE seq = 2")
    con.commit()
    con.close()
    code, _, err = gf(capsys, home, "audit", "verify")
    assert code != 0 and "event 2" in err


def test_sql_access_flow_and_formats(capsys: pytest.CaptureFixture[str], demo_home: Path, tmp_path: Path) -> None:
    h = demo_home
    assert gf(capsys, h, "vt", "create", "market.licence", "--from", "mr_db.main.t_yyzz", "--rename",
              "qymc=name,zzbh=licence_no", "--only", "qymc", "--only", "zzbh", user="steward_mr")[0] == 0
    code, _, err = gf(capsys, h, "sql", "SELECT name FROM market.licence", user="analyst1")
    assert code != 0 and "no grant" in err
    code, out, _ = gf(capsys, h, "access", "request", "market.licence", "--columns", "name", "--purpose",
                      "企业名录核验", "--until", "2099-12-31", user="analyst1")
    assert code == 0
    rid = out.split("request ")[1].split()[0]
    assert gf(capsys, h, "access", "approve", rid, user="steward_mr")[0] == 0
    code, out, _ = gf(capsys, h, "sql", "SELECT name FROM market.licence ORDER BY name LIMIT 3", "--format", "csv",
                      user="analyst1")
    assert code == 0 and out.splitlines()[0] == '"name"' and len(out.splitlines()) == 4
    code, out, _ = gf(capsys, h, "sql", "SELECT `name` FROM market.licence LIMIT 2", "--dialect", "mysql",
                      "--format", "jsonl", user="analyst1")
    assert code == 0 and len([json.loads(x) for x in out.splitlines()]) == 2
    code, out, _ = gf(capsys, h, "sql", "SELECT `name` FROM market.licence LIMIT 2", "--dialect", "mysql",
                      "--format", "json", user="analyst1")
    assert code == 0 and len(json.loads(out)) == 2  # one JSON array
    target = h / "exports" / "out.parquet"  # a relative FILE lands under the export root
    code, _, _ = gf(capsys, h, "sql", "SELECT name FROM market.licence", "--format", "parquet", "-o", "out.parquet",
                    user="analyst1")
    import pyarrow.parquet as pq

    assert code == 0 and pq.read_table(target).num_rows > 100
    code, out, _ = gf(capsys, h, "sql", "SELECT name FROM market.licence", "--explain", user="analyst1")
    assert code == 0 and "src_mr_db" not in out and "t_yyzz" not in out and '"market"."licence"' in out
    code, out, _ = gf(capsys, h, "sql", "SELECT name FROM market.licence", "--explain", user="steward_mr")
    assert code == 0 and "src_mr_db" in out  # the owning steward sees the physical SQL
    code, _, err = gf(capsys, h, "sql", "COPY (SELECT 1) TO '/tmp/x.csv'", user="analyst1")
    assert code != 0
    code, out, _ = gf(capsys, h, "access", "list", "--json", user="steward_mr")
    assert json.loads(out)[0]["grantee"] == "analyst1"
    code, out, _ = gf(capsys, h, "engine", "status", "--json", user="steward_mr")
    st = json.loads(out)
    assert code == 0 and any(q["status"] == "ok" for q in st["queries"])
    assert all(s["reachable"] for s in st["sources"])


@pytest.mark.parametrize("argv", [["--user", "x", "status"], ["status", "--bogus"], ["nonsense"],
                                  ["quality", "run"]])
def test_usage_errors_exit_2_with_a_hint_not_a_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         argv: list[str]) -> None:
    code, out, err = gf(capsys, tmp_path / "ws", *argv)
    assert code == 2
    assert "Traceback" not in out + err and "Try 'govfabric" in err
