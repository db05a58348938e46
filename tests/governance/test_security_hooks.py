"""PII detection runs at harvest, and new virtual tables over personal data are masked by default."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from govfabric.identifiers import resident_id_check_char


def test_harvest_classifies_and_new_virtual_tables_are_masked(steward, analyst, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (c7 TEXT, amount REAL)")
    ids = [f"11010519{80 + i % 20:02d}0101{i % 900 + 100:03d}" for i in range(50)]
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i + resident_id_check_char(i), 1.0) for i in ids])
    con.commit()
    con.close()
    steward.catalog.add_source("p", f"sqlite:///{db}")
    steward.catalog.harvest("p")
    classes = {c.column_name: c.pii_class for c in steward.security.classifications("p.main.t")}
    assert classes["c7"] == "resident_id" and classes.get("amount") is None
    steward.virtual.create_table("pub.t", "p.main.t", renames={"c7": "id_no"})
    assert {m.column_name: m.rule for m in steward.access.masks("pub.t")} == {"id_no": "resident_id"}
    steward.access.grant("analyst1", "pub.t")
    shown = analyst.sql("SELECT id_no FROM pub.t LIMIT 5").column(0).to_pylist()
    assert all("********" in v for v in shown)
