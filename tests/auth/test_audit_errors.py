"""Error texts stored in the query log and the audit trail hold no data values; the user who ran
the query still gets the whole message."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from govfabric.errors import QueryRejected
from govfabric.virtualization.models import QueryLog
from govfabric.virtualization.query import scrub_error

RESIDENT_ID = "110105199001011234"


def test_engine_error_values_stay_out_of_the_logs(steward, tmp_path: Path) -> None:
    path = tmp_path / "p.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE t (code VARCHAR, note VARCHAR); INSERT INTO t VALUES ('{RESIDENT_ID}', '刘䶮')")
    con.close()
    steward.catalog.add_source("dk", f"duckdb:///{path}")
    steward.catalog.harvest("dk")
    steward.virtual.create_table("dk.t", "dk.main.t")
    steward.access.grant("steward1", "dk.t")
    with pytest.raises(QueryRejected, match=RESIDENT_ID):  # the one who ran it sees the value
        steward.sql("SELECT CAST(code AS INTEGER) AS n FROM dk.t")
    with steward.store.session() as s:
        logged = s.scalars(select(QueryLog.error).where(QueryLog.status == "error")).all()
    events = steward.audit.events(action="sql.error")
    assert logged and events
    for text in [*logged, *(e.details["error"] for e in events)]:
        assert RESIDENT_ID not in text and "Could not convert string ? to INT32" in text


def test_scrub_error_replaces_values_not_the_kind() -> None:
    assert scrub_error("Conversion Error: Could not convert string '刘䶮''s' to INT32") == \
        "Conversion Error: Could not convert string ? to INT32"
    assert scrub_error(f"Invalid Input Error: value {RESIDENT_ID} near 海淀区 out of range") == \
        "Invalid Input Error: value ? near ? out of range"
    assert scrub_error(None) is None
