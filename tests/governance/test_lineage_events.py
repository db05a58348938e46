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


def test_a_harvest_event_is_written_as_openlineage_python_writes_it_without_importing_it(tmp_path) -> None:
    """A harvest's event is built without openlineage-python (its import was ~0.4 s of a process's first
    harvest): the envelope and facet heads are what the library makes of the same run, and a harvest in a
    fresh process never imports it."""
    import json
    import os
    import sqlite3
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from openlineage.client import facet_v2 as fv
    from openlineage.client.facet_v2 import (
        column_lineage_dataset,
        datasource_dataset,
        ownership_dataset,
        schema_dataset,
    )
    from openlineage.client.serde import Serde

    import govfabric
    from govfabric.governance.lineage import events as ev

    # (the lineage module registers openlineage.client without running its __init__: deferred.without_init)
    plain = ev._plain_event("ns", "harvest.x", "HARVEST", "govfabric/harvest-sqlite")
    made = ev._event(None, "ns", "harvest.x", "HARVEST", [], [], engine="govfabric/harvest-sqlite")
    for p in (plain, made):
        assert uuid.UUID(p["run"].pop("runId")).version == 7
        p.pop("eventTime")
    assert plain == made
    fv.set_producer(ev.PRODUCER)
    facets = {"schema": schema_dataset.SchemaDatasetFacet([]),
              "datasource": datasource_dataset.DatasourceDatasetFacet(name="x", uri="x"),
              "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={}),
              "ownership": ownership_dataset.OwnershipDatasetFacet([])}
    for name, facet in facets.items():
        full = Serde.to_dict(facet)
        assert ev._facet_head(name) == {k: full[k] for k in ("_producer", "_schemaURL")}, name
    db = tmp_path / "reg.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE firm (fid INTEGER)")
    code = (
        "import json, sys\n"
        "from govfabric.fabric import init_workspace\n"
        "f = init_workspace(sys.argv[1])\n"
        "f.catalog.add_source('reg', 'sqlite:///' + sys.argv[2])\n"
        "f.catalog.harvest('reg')\n"
        # code that ran: not the namespace package, nor deferred.without_init's placeholder
        "from govfabric.deferred import _Package\n"
        "ran = [m for m, mod in list(sys.modules.items()) if m.startswith('openlineage')\n"
        "       and getattr(mod, '__file__', None) and not isinstance(mod, _Package)]\n"
        "print(json.dumps(sorted(ran)))\n"
        "f.close()\n")
    root = str(Path(govfabric.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "ws"), str(db)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_query_event_is_its_plans_template_with_the_runs_values(demo) -> None:
    """A query's event is spliced into its cached plan's encoded template (``events.record_query``):
    the stored payload is the template with this run's status, time, run id and result name — the
    rows' own columns agreeing —, each run its own ids, a failed run FAIL, and SQL with quotes,
    backslashes and Chinese text intact."""
    from datetime import datetime

    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"qymc": "name", "qx": "district", "zczb": "capital"},
                              only=["qymc", "qx", "zczb"])
    sql = "SELECT name, '引号 \"x\" \\ \\n' AS q FROM market.enterprise WHERE district <> '朝阳区' LIMIT 2"
    demo.sql(sql)
    demo.sql(sql)
    with demo.store.session() as s:
        rows = s.scalars(select(LineageEvent).where(LineageEvent.sql == sql).order_by(LineageEvent.event_time)).all()
    assert len(rows) == 2
    first, second = (r.payload for r in rows)
    for row, payload in zip(rows, (first, second), strict=True):
        validate_event(payload)
        assert payload["eventType"] == row.event_type == "COMPLETE"
        assert payload["run"]["runId"] == row.run_id
        assert datetime.fromisoformat(payload["eventTime"]).replace(tzinfo=None) == row.event_time.replace(tzinfo=None)
        assert row.outputs == [f"{payload['outputs'][0]['namespace']}/{payload['outputs'][0]['name']}"]
        assert payload["job"]["facets"]["sql"]["query"] == sql
        assert row.inputs == [f"govfabric://{demo.settings.home.name}/market.enterprise"]
    assert first["run"]["runId"] != second["run"]["runId"]
    assert first["outputs"][0]["name"] != second["outputs"][0]["name"]
    assert first["outputs"][0]["name"].startswith("query/")
    same = ("eventTime", "run", "outputs")
    assert {k: v for k, v in first.items() if k not in same} == {k: v for k, v in second.items() if k not in same}
    assert first["outputs"][0]["facets"] == second["outputs"][0]["facets"]


def test_a_failed_query_event_is_fail(demo) -> None:
    import pytest

    from govfabric.errors import GovfabricError

    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", renames={"qymc": "name"}, only=["qymc"])
    sql = "SELECT CAST(name AS INTEGER) AS n FROM market.enterprise"
    with pytest.raises(GovfabricError):
        demo.sql(sql)
    with demo.store.session() as s:
        row = s.scalars(select(LineageEvent).where(LineageEvent.sql == sql)).one()
    assert row.event_type == row.payload["eventType"] == "FAIL"
    validate_event(row.payload)
