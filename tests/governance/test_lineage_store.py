"""Lineage edges, the graph and metadata links on both stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3

from openlineage_spec import validate_event
from sqlalchemy import select

from govfabric.governance.lineage import events as ev
from govfabric.governance.lineage import graph as graph_mod
from govfabric.governance.lineage.models import LineageEdge, LineageEvent
from govfabric.governance.lineage.service import LineageService
from govfabric.governance.metadata.service import MetadataService
from govfabric.virtualization.models import VirtualTableRow


def test_harvest_and_definitions_build_the_graph(steward, tmp_path) -> None:
    db = tmp_path / "people.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE person (pid INTEGER, name TEXT, region TEXT)")
        con.execute("INSERT INTO person VALUES (1, '张三', '110105')")
    steward.catalog.add_source("pop", f"sqlite:///{db}")
    steward.catalog.harvest("pop")
    steward.virtual.create_table("pop.person", "pop.main.person", renames={"region": "district"})
    with steward.store.session() as s:
        src = steward.catalog.source("pop", s)
        harvest = s.get(LineageEvent, ev.record_harvest(steward, s, src))  # as stored
        vt = s.get(LineageEvent, ev.record_virtual_table(steward, s, s.scalar(select(VirtualTableRow))))
        assert harvest is not None and vt is not None
    validate_event(harvest.payload)
    validate_event(vt.payload)
    assert harvest.payload["inputs"][0]["namespace"] == f"sqlite:///{db.resolve()}"
    svc = LineageService(steward)
    up = svc.upstream("pop.person", "district")
    cols = {d: r.columns for d, r in up.reached.items()}
    assert cols[f"{ev.catalog_namespace(steward)}/pop.main.person"] == {"region"}
    assert cols[f"sqlite:///{db.resolve()}/main.person"] == {"region"}
    impact = svc.impact("pop.main.person.region")
    assert [i["kind"] for i in impact["affected"]] == ["virtual_table"]
    assert impact["affected"][0]["columns"] == ["district"]
    # redefining replaces the virtual table's links instead of adding to them
    steward.virtual.remap("pop.person", {"district": "name"})
    with steward.store.session() as s:
        ev.record_virtual_table(steward, s, s.scalar(select(VirtualTableRow)))
        links = s.execute(select(LineageEdge.src_field, LineageEdge.dst_field).where(
            LineageEdge.job_name == "virtual_table.pop.person", LineageEdge.kind == "DIRECT")).all()
    assert ("name", "district") in links and ("region", "district") not in links
    assert svc.impact("pop.main.person.region")["affected"] == []
    md = MetadataService(steward)
    md.add_term("district", "Administrative district", cn_name="行政区")
    md.link("pop.main.person", terms=["行政区"], column="region")
    assert md.search("行政")["terms"][0]["linked"] == ["pop.main.person.region"]


def test_first_harvest_deletes_no_edges_and_a_reharvest_replaces_them(steward, tmp_path) -> None:
    """A job's first event has no edges to replace (no delete per 500 outputs of a large first
    harvest); its later events still replace their outputs' edges, never duplicate them."""
    from sqlalchemy import event

    db = tmp_path / "reg.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE firm (fid INTEGER, name TEXT, capital REAL)")
        con.execute("CREATE TABLE shop (sid INTEGER)")
    deletes: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("DELETE FROM GOV_LINEAGE_EDGES"):
            deletes.append(statement)

    event.listen(steward.store.engine, "before_cursor_execute", seen)
    try:
        steward.catalog.add_source("reg", f"sqlite:///{db}")
        steward.catalog.harvest("reg")
        assert deletes == []
        with sqlite3.connect(db) as con:
            con.execute("ALTER TABLE firm DROP COLUMN capital")
            con.execute("ALTER TABLE firm ADD COLUMN region TEXT")
        steward.catalog.harvest("reg")
        assert deletes
    finally:
        event.remove(steward.store.engine, "before_cursor_execute", seen)
    with steward.store.session() as s:
        rows = s.execute(select(LineageEdge.dst, LineageEdge.dst_field).where(
            LineageEdge.job_name == "harvest.reg")).all()
    assert rows == []  # a harvest's edges are derived from its events' payloads (issue 15)
    graph_mod.invalidate()
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "region"}
    assert _harvested(steward, "reg.main.shop") == {"sid"}  # not in the re-harvest's event: kept


def _harvested(fabric, name: str) -> set[str]:
    """The columns the lineage graph links into catalog asset ``name`` from its source, each from
    one source column of the same name, and the asset from one source dataset (no duplicates)."""
    g = graph_mod.graph_for(fabric.store)
    d = g.ds_ids[f"{ev.catalog_namespace(fabric)}/{name}"]
    assert len(g.ds_up[d]) == 1
    (src,) = g.ds_up[d]
    cols = set()
    for c in g.ds_cols[d]:
        ups = g.col_up.get(c, [])
        assert len(ups) == 1 and g.col_of[ups[0][0]] == (src, g.col_of[c][1]), ups
        cols.add(g.col_of[c][1])
    assert set(g.columns(g.ds_names[src])) == cols  # a dropped source column is gone from the graph
    return cols


def _firm_and_shop(tmp_path):
    db = tmp_path / "reg.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE firm (fid INTEGER, name TEXT, capital REAL)")
        con.execute("CREATE TABLE shop (sid INTEGER)")
    return db


def _alter_firm(db) -> None:
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE firm DROP COLUMN capital")
        con.execute("ALTER TABLE firm ADD COLUMN region TEXT")


def test_a_reharvest_replaces_its_edges_in_a_graph_built_before_it(steward, tmp_path) -> None:
    """The graph built in this process before a re-harvest shows the re-harvest's edges in place of
    the earlier ones right after its commit, also for a column that now names another source column."""
    db = _firm_and_shop(tmp_path)
    steward.catalog.add_source("reg", f"sqlite:///{db}")
    steward.catalog.harvest("reg")
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "capital"}
    _alter_firm(db)
    steward.catalog.harvest("reg")
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "region"}
    assert _harvested(steward, "reg.main.shop") == {"sid"}
    impact = LineageService(steward).impact("reg.main.firm")
    assert impact is not None


def test_a_reharvest_in_another_process_replaces_the_edges_of_a_graph_built_here(steward, tmp_path) -> None:
    """A graph built here sees a re-harvest committed by another process (the store's event count
    moves), and a graph built by another process derives the same edges from the payloads."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import govfabric

    db = _firm_and_shop(tmp_path)
    steward.catalog.add_source("reg", f"sqlite:///{db}")
    steward.catalog.harvest("reg")
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "capital"}
    _alter_firm(db)
    root = str(Path(govfabric.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import json, sys\n"
        "from govfabric.fabric import connect\n"
        "from govfabric.governance.lineage import events as ev\n"
        "from govfabric.governance.lineage.graph import graph_for\n"
        "f = connect(sys.argv[1], 'steward1')\n"
        "f.catalog.harvest('reg')\n"
        "g = graph_for(f.store)\n"
        "print(json.dumps(sorted(g.columns(ev.catalog_namespace(f) + '/reg.main.firm'))))\n"
        "f.close()\n")
    out = subprocess.run([sys.executable, "-c", code, str(steward.settings.home)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["fid", "name", "region"]
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "region"}
    assert _harvested(steward, "reg.main.shop") == {"sid"}


def test_edge_rows_of_an_earlier_version_are_replaced_by_a_derived_reharvest(steward, tmp_path, monkeypatch) -> None:
    """A workspace harvested by a version that stored a harvest's edge rows: a re-harvest's event
    (edges derived) replaces the rows of the outputs it names; the rest stay as rows."""
    db = _firm_and_shop(tmp_path)
    steward.catalog.add_source("reg", f"sqlite:///{db}")
    with monkeypatch.context() as m:
        m.setattr(ev, "derives_edges", lambda payload: False)  # as earlier versions stored them
        steward.catalog.harvest("reg")
    with steward.store.session() as s:
        assert s.scalar(select(LineageEdge.id).where(LineageEdge.job_name == "harvest.reg").limit(1))
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "capital"}
    _alter_firm(db)
    steward.catalog.harvest("reg")
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "region"}
    assert _harvested(steward, "reg.main.shop") == {"sid"}
    graph_mod.invalidate()
    assert _harvested(steward, "reg.main.firm") == {"fid", "name", "region"}
    with steward.store.session() as s:
        rows = s.execute(select(LineageEdge.dst).where(LineageEdge.job_name == "harvest.reg")).scalars().all()
    assert rows and all(d.endswith("/reg.main.shop") for d in rows)


def test_the_graph_derives_a_harvest_events_edges_as_edges_of_lists_them() -> None:
    """The graph decodes only the parts of an event ``edges_of`` reads (msgspec): the same links, in the
    same order, for column lineage with transformations or without, dataset-level lineage, and an
    output without column lineage (from every input of the run); outputs owned by a later event skip."""
    import json

    from govfabric.governance.lineage.graph import _harvest_decoder, _harvest_edges

    def field(ns: str, name: str, f: str, *steps: dict) -> dict:
        return {"namespace": ns, "name": name, "field": f, "transformations": list(steps)}

    payload = {
        "eventType": "COMPLETE", "job": {"namespace": "gf", "name": "harvest.reg", "facets": {"x": {"y": 1}}},
        "run": {"runId": "r"}, "eventTime": "2026-01-01T00:00:00+00:00",
        "inputs": [{"namespace": "pg://h", "name": "s.a", "facets": {"schema": {"fields": [{"name": "x"}]}}},
                   {"namespace": "pg://h", "name": "s.b"}],
        "outputs": [
            {"namespace": "cat", "name": "r.a", "facets": {"schema": {"fields": []}, "columnLineage": {
                "fields": {"x": {"inputFields": [field("pg://h", "s.a", "x",
                                                       {"type": "DIRECT", "subtype": "IDENTITY"})]},
                           "y": {"inputFields": [field("pg://h", "s.a", "y"), field("pg://h", "s.b", "z",
                                                                                  {"type": "INDIRECT"})]}},
                "dataset": [field("pg://h", "s.b", "k", {"type": "INDIRECT", "subtype": "JOIN"})]}}},
            {"namespace": "cat", "name": "r.empty", "facets": {}},
            {"namespace": "cat", "name": "r.later"},
        ]}
    want = [tuple(e[k] for k in ("src", "src_field", "dst", "dst_field", "kind", "subtype", "job_name"))
            for e in ev.edges_of(payload) if e["dst"] != "cat/r.later"]
    owner = {("harvest.reg", "cat/r.a"): "e1", ("harvest.reg", "cat/r.empty"): "e1",
             ("harvest.reg", "cat/r.later"): "e2"}
    got = list(_harvest_edges(_harvest_decoder().decode(json.dumps(payload)), "e1", owner))
    assert got == want and len(want) == 8
