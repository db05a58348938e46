"""``govfabric share``: the whole lifecycle from the command line, JSON output, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from govfabric.cli.main import app
from tests.infra.cli import run_ok, runner


def test_share_cli(demo_home: Path) -> None:
    run_ok(demo_home, "principal", "add", "reviewer1", "--role", "reviewer", user="admin")
    run_ok(demo_home, "vt", "create", "market.cases", "--from", "mr_db.main.t_jcaj")
    created = json.loads(run_ok(demo_home, "share", "create", "table", "market.cases", "--title", "检查案件",
                              "--limit", "request=2", "--json"))
    assert (created["sharing_class"], created["open_class"], created["state"]) == ("conditional", "not_open",
                                                                                  "draft")
    run_ok(demo_home, "share", "submit", "market.cases", "--reason", "ready")
    r = runner.invoke(app, ["--home", str(demo_home), "--as", "analyst1", "share", "review", "market.cases",
                            "--reason", "ok"])
    assert r.exit_code != 0 and "no share" in str(r.exception) and "Traceback" not in r.output  # a draft is hidden
    run_ok(demo_home, "share", "review", "market.cases", "--reason", "checked", user="reviewer1")
    assert "published" in run_ok(demo_home, "share", "publish", "market.cases", "--reason", "go")
    out = run_ok(demo_home, "share", "request", "market.cases", "--purpose", "案件统计分析", user="analyst1")
    assert "waiting for the steward's approval" in out
    listed = json.loads(run_ok(demo_home, "share", "list", "--json", user="analyst1"))
    assert [s["name"] for s in listed] == ["market.cases"]
    shown = json.loads(run_ok(demo_home, "share", "show", "market.cases", "--json"))
    assert [h["to"] for h in shown["history"]] == ["draft", "submitted", "reviewed", "published"]
    assert shown["requests"][0]["status"] == "pending" and shown["effective_limits"]["request"] == 2
    assert "History" in run_ok(demo_home, "share", "show", "market.cases")
    stats = json.loads(run_ok(demo_home, "share", "stats", "--json", user="reviewer1"))
    assert stats["departments"][0]["requests_by_status"] == {"pending": 1}
    assert "Sharing statistics" in run_ok(demo_home, "share", "stats", user="reviewer1")
    assert json.loads(run_ok(demo_home, "share", "overdue", "--json")) == []
    run_ok(demo_home, "share", "suspend", "market.cases", "--reason", "pause")
    run_ok(demo_home, "share", "retire", "market.cases", "--reason", "done")
    r = runner.invoke(app, ["--home", str(demo_home), "share", "publish", "market.cases", "--reason", "again"])
    assert r.exit_code != 0 and "retired" in str(r.exception)
    r = runner.invoke(app, ["--home", str(demo_home), "share", "create", "table", "market.cases", "--name", "x",
                            "--limit", "nope=3"])
    assert r.exit_code != 0 and "unknown stage" in str(r.exception)
