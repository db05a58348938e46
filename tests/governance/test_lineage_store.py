"""Lineage edges, the graph and metadata links on both stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3

from openlineage_spec import validate_event
from sqlalchemy import select

from govfabric.governance.lineage import events as ev
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
    firm = [f for d, f in rows if d.endswith("/reg.main.firm")]
    assert sorted(firm) == ["", "fid", "name", "region"]
    assert sorted(f for d, f in rows if d.endswith("/reg.main.shop")) == ["", "sid"]
