"""Every virtual query leaves an OpenLineage run event with DIRECT and INDIRECT column lineage,
valid against the official schemas."""

from __future__ import annotations

import sqlglot
from openlineage_spec import validate_event
from sqlalchemy import select
from sqlglot.optimizer.qualify import qualify

from govfabric.governance.lineage.columns import column_lineage
from govfabric.governance.lineage.models import LineageEvent

SCHEMA = {"m": {"e": {"id": "INT", "name": "TEXT", "district": "TEXT", "capital": "DOUBLE"},
                "p": {"pid": "INT", "region": "TEXT"}}}


def _lineage(sql: str) -> dict:
    q = qualify(sqlglot.parse_one(sql, read="duckdb"), schema=SCHEMA, dialect="duckdb")
    return column_lineage(q, lambda t: ("ns", t), {"m.e": {"name"}})


def test_direct_and_indirect_edges() -> None:
    lin = _lineage("SELECT e.district, upper(e.name) AS n, sum(e.capital) AS cap FROM m.e AS e "
                   "JOIN m.p AS p ON p.pid = e.id WHERE p.region = 'x' GROUP BY e.district, e.name ORDER BY cap")
    f = lin["fields"]
    assert [(i["name"], i["field"], i["transformations"][0]["subtype"]) for i in f["district"]["inputFields"]] == [
        ("m.e", "district", "IDENTITY")]
    assert f["n"]["inputFields"][0]["transformations"][0] == {"type": "DIRECT", "subtype": "TRANSFORMATION",
                                                               "masking": True}
    assert f["cap"]["inputFields"][0]["transformations"][0]["subtype"] == "AGGREGATION"
    indirect = {(i["name"], i["field"], i["transformations"][0]["subtype"]) for i in lin["dataset"]}
    assert {("m.p", "pid", "JOIN"), ("m.e", "id", "JOIN"), ("m.p", "region", "FILTER"),
            ("m.e", "district", "GROUP_BY")} <= indirect


def test_through_ctes_and_subqueries() -> None:
    lin = _lineage("WITH big AS (SELECT name, capital FROM m.e WHERE capital > 10) "
                   "SELECT s.name FROM (SELECT name FROM big) AS s")
    assert [(i["name"], i["field"]) for i in lin["fields"]["name"]["inputFields"]] == [("m.e", "name")]
    assert ("m.e", "capital") in {(i["name"], i["field"]) for i in lin["dataset"]}


def test_query_events_are_stored_and_valid(demo) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"qymc": "name", "qx": "district", "zczb": "capital"},
                              only=["qymc", "qx", "zczb"])
    demo.sql("SELECT district, count(*) AS n, sum(capital) AS cap FROM market.enterprise "
             "WHERE capital > 10 GROUP BY district")
    with demo.store.session() as s:
        ev = s.scalars(select(LineageEvent).order_by(LineageEvent.event_time.desc())).first()
    assert ev is not None and ev.inputs == [f"govfabric://{demo.settings.home.name}/market.enterprise"]
    validate_event(ev.payload)
    lineage = ev.payload["outputs"][0]["facets"]["columnLineage"]
    assert lineage["fields"]["cap"]["inputFields"][0]["field"] == "capital"
    assert any(i["field"] == "capital" and i["transformations"][0]["subtype"] == "FILTER"
               for i in lineage["dataset"])
