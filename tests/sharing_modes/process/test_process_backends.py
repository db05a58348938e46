"""The whole process on both store backends (SQLite and PostgreSQL): JSON columns, timestamps in
reminders' once-per-stage key, approval times from the access module's rows."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from govfabric.store.base import utcnow


def test_process_on_both_backends(workspace, tmp_path: Path) -> None:
    db = tmp_path / "people.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (name TEXT, region TEXT)")
    con.execute("INSERT INTO people VALUES ('张伟', '110105')")
    con.commit()
    con.close()
    workspace.catalog.add_source("ppl", f"sqlite:///{db}", department="市场监管局")
    workspace.catalog.harvest("ppl")
    workspace.virtual.create_table("w.people", "ppl.main.people")
    workspace.add_principal("reviewer1", ["reviewer"])
    steward = workspace.as_user("steward1")
    offer = steward.shares.create("table", "w.people", limits={"request": 1})
    assert (offer.sharing_class, offer.open_class) == ("conditional", "not_open")  # unclassified: strict
    steward.shares.submit("w.people", "ready")
    workspace.as_user("reviewer1").shares.review("w.people", "ok")
    steward.shares.publish("w.people", "go")
    req = workspace.as_user("analyst1").shares.request("w.people", "人口统计分析")
    later = utcnow() + timedelta(hours=2)
    assert [x["item"] for x in steward.shares.remind(later)] == [f"request:{req.id}"]
    assert steward.shares.remind(later) == []
    steward.access.approve(req.access_requests[0], reason="ok")
    assert workspace.as_user("analyst1").sql("SELECT name FROM w.people").num_rows == 1
    (dept,) = workspace.as_user("reviewer1").shares.stats(later)["departments"]
    assert dept["department"] == "市场监管局" and dept["requests_by_status"] == {"approved": 1}
    assert dept["decided"] == 1 and dept["overdue"] == 0
