"""Two tables of one SQLite source in one query give each its own answer.

DuckDB 1.5's common-subplan elimination took two ``sqlite_scan``s of one file for the same scan
(found by the PII scan's batching, session 6): ``max(a) UNION ALL max(b)`` answered a's maximum
twice. The SQLite kind turns that optimizer off on the connections it is attached to."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


@pytest.fixture
def two_tables(workspace, tmp_path: Path):
    db = tmp_path / "two.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE a (v INTEGER)")
    con.execute("CREATE TABLE b (v INTEGER)")
    con.executemany("INSERT INTO a VALUES (?)", [(1,), (2,)])
    con.executemany("INSERT INTO b VALUES (?)", [(10,), (20,)])
    con.commit()
    con.close()
    workspace.catalog.add_source("two", f"sqlite:///{db}", department="市场监管局")
    workspace.catalog.harvest("two")
    workspace.virtual.create_table("w.a", "two.main.a")
    workspace.virtual.create_table("w.b", "two.main.b")
    for t in ("w.a", "w.b"):
        workspace.access.grant("analyst1", t)
    return workspace.as_user("analyst1")


@pytest.mark.parametrize(("sql", "rows"), [
    ("SELECT max(v) AS m FROM w.a UNION ALL SELECT max(v) AS m FROM w.b", [{"m": 2}, {"m": 20}]),
    ("SELECT (SELECT sum(v) FROM w.a) AS x, (SELECT sum(v) FROM w.b) AS y", [{"x": 3, "y": 30}]),
])
def test_each_table_of_one_sqlite_file_answers_for_itself(two_tables, sql: str, rows: list[dict]) -> None:
    assert two_tables.sql(sql).to_pylist() == rows
