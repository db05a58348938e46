"""Harvest, virtual table, view and file events (valid against the spec), the lineage graph,
impact analysis, cycles, exports and forwarding to a real HTTP receiver."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openlineage_spec import validate_event
from sqlalchemy import select

from govfabric.errors import NotFound, ValidationFailed
from govfabric.governance.lineage import events as ev
from govfabric.governance.lineage.graph import LineageGraph
from govfabric.governance.lineage.models import LineageEvent
from govfabric.governance.lineage.service import LineageService
from govfabric.virtualization.models import VirtualTableRow, VirtualViewRow

ASSET = "mr_db.main.t_qy_jbxx"


def _build(demo) -> LineageService:
    """Harvest lineage for the demo source, a virtual table, a view on it and a query of the view."""
    demo.virtual.create_table("market.enterprise", ASSET, renames={"qymc": "name", "qx": "district",
                                                                    "zczb": "capital"}, only=["qymc", "qx", "zczb"])
    demo.virtual.create_view("market.by_district", "SELECT district, sum(capital) AS cap FROM market.enterprise "
                             "WHERE capital > 10 GROUP BY district")
    with demo.store.session() as s:
        src = demo.catalog.source(ASSET.split(".")[0], s)
        assert ev.record_harvest(demo, s, src) is not None
        ev.record_virtual_table(demo, s, s.scalar(select(VirtualTableRow).where(
            VirtualTableRow.name == "market.enterprise")))
        ev.record_view(demo, s, s.scalar(select(VirtualViewRow).where(VirtualViewRow.name == "market.by_district")))
    demo.sql("SELECT district, cap FROM market.by_district")
    return LineageService(demo)


def test_events_of_every_kind_validate(demo, tmp_path) -> None:
    _build(demo)
    with demo.store.session() as s:
        ev.record_file_load(demo, s, tmp_path / "people.csv", (ev.catalog_namespace(demo), "files.people"),
                            [("id", "INTEGER"), ("name", "VARCHAR")])
        rows = list(s.scalars(select(LineageEvent)))
    kinds = {r.payload["job"]["facets"]["jobType"]["jobType"] for r in rows}
    assert {"HARVEST", "VIRTUAL_TABLE", "VIEW", "QUERY", "FILE_LOAD"} <= kinds
    for r in rows:
        validate_event(r.payload)
    harvest = next(r.payload for r in rows if r.job_name.startswith("harvest."))
    assert harvest["inputs"][0]["namespace"].startswith("sqlite:///") or "://" in harvest["inputs"][0]["namespace"]
    out = next(o for o in harvest["outputs"] if o["name"] == ASSET)
    assert out["facets"]["datasource"]["name"] == "mr_db" and "ownership" in out["facets"]
    # an input's schema is its output's (IDENTITY copies): stated once, on the output
    inp = next(i for i in harvest["inputs"] if i["name"].endswith(ASSET.split(".", 1)[1].split(".")[-1]))
    assert set(inp["facets"]) == {"datasource"}
    assert [f["name"] for f in out["facets"]["schema"]["fields"]] == \
        list(out["facets"]["columnLineage"]["fields"]) and out["facets"]["schema"]["fields"]
    vt = next(r.payload for r in rows if r.job_name == "virtual_table.market.enterprise")
    f = vt["outputs"][0]["facets"]["columnLineage"]["fields"]["capital"]["inputFields"][0]
    assert (f["name"], f["field"], f["transformations"][0]["subtype"]) == (ASSET, "zczb", "IDENTITY")


def test_upstream_downstream_and_impact(demo) -> None:
    svc = _build(demo)
    up = svc.show("market.by_district", "cap", direction="upstream")
    fields = {(r.dataset.rsplit("/", 1)[-1], c) for r in up.reached.values() for c in r.columns}
    assert ("market.enterprise", "capital") in fields and (ASSET, "zczb") in fields
    assert any(d.startswith("sqlite:") or d.startswith("duckdb:") for d in up.reached)  # the physical source
    impact = svc.impact(f"{ASSET}.zczb")
    kinds = {i["kind"] for i in impact["affected"]}
    assert {"virtual_table", "view", "query"} <= kinds
    view = next(i for i in impact["affected"] if i["kind"] == "view")
    assert "cap" in view["columns"] and view["owners"] == ["user:steward_mr"]
    assert "steward_mr" in impact["consumers"] and not impact["cycles"]
    # a column feeding nothing breaks nothing downstream of the view
    assert svc.impact("market.by_district.district")["counts"]["view"] == 0
    with pytest.raises(NotFound):
        svc.impact("no.such_table")


def test_cycles_terminate_and_are_reported() -> None:
    g = LineageGraph()
    for a, b in (("n/a", "n/b"), ("n/b", "n/c"), ("n/c", "n/a"), ("n/c", "n/d")):
        g.add(a, "x", b, "x", "DIRECT", "IDENTITY", "job", "u")
        g.add(a, "", b, "", "DATASET", None, "job", "u")
    t = g.traverse("n/a", "x", "downstream")
    assert set(t.reached) == {"n/a", "n/b", "n/c", "n/d"}
    assert t.cycles == [["n/a", "n/b", "n/c"]]
    assert g.traverse("n/a", None, "upstream").cycles == [["n/a", "n/b", "n/c"]]
    hit = g.impact("n/a", "x")  # the root, met again around the cycle, is not its own impact
    assert (hit.names, hit.depths, hit.columns) == (["n/b", "n/c", "n/d"], [1, 2, 3], [["x"]] * 3)
    assert hit.cycles == [["n/a", "n/b", "n/c"]]


def test_exports(demo) -> None:
    svc = _build(demo)
    lines = svc.export("openlineage").splitlines()
    assert len(lines) >= 4 and all(json.loads(x)["eventType"] == "COMPLETE" for x in lines)
    dot = svc.export("dot", "market.enterprise")
    assert dot.startswith("digraph") and "market.by_district" in dot
    page = svc.export("html", "market.enterprise", "capital")
    assert "<svg" in page and "market.by_district" in page and "<script" not in page


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[str, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_forwarding_to_a_real_http_receiver(demo) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        demo.settings.lineage_url = f"http://127.0.0.1:{server.server_port}"
        svc = _build(demo)
        from govfabric.governance.lineage.transport import flush

        demo.store.flush_deferred()  # the queries' events are written just after their answers, then queued
        assert flush()  # forwarding is in the background
        got = _Receiver.got
        assert got and all(path == "/api/v1/lineage" for path, _ in got)
        jobs = {p["job"]["name"] for _, p in got}
        assert {"virtual_table.market.enterprise", "view.market.by_district"} <= jobs
        with demo.store.session() as s:
            pending = list(s.scalars(select(LineageEvent).where(LineageEvent.forwarded_at.is_(None))))
        # what the workspace stored before lineage_url was set waits for `lineage forward`
        from govfabric.governance.lineage.transport import forward_stored

        assert forward_stored(demo) == len(pending)
        assert len(got) >= len(jobs) + len(pending)
        for _, payload in got:
            validate_event(payload)
        assert svc.graph() is svc.graph()  # cached until new events arrive
    finally:
        server.shutdown()


def test_quality_events_carry_assertions_and_metrics(demo) -> None:
    with demo.store.session() as s:
        row = s.get(LineageEvent, ev.record_quality(demo, s, ASSET, [
            {"assertion": "not_null", "success": True, "column": "qymc"},
            {"assertion": "unique", "success": False, "column": "tyshxydm", "severity": "error", "actual": 3}],
            row_count=1000, column_metrics={"qymc": {"nullCount": 0, "distinctCount": 990}}, suite="enterprise"))
        assert row is not None  # as stored
    validate_event(row.payload)
    inp = row.payload["inputs"][0]
    assert [a["success"] for a in inp["facets"]["dataQualityAssertions"]["assertions"]] == [True, False]
    assert inp["inputFacets"]["dataQualityMetrics"]["rowCount"] == 1000


def test_impact_reaches_owners_of_every_kind(demo) -> None:
    """From the physical table: the catalog asset (its department, read fresh from the store), the
    virtual table, the view and the query; a depth limit keeps the datasets that near, at their depth."""
    svc = _build(demo)
    up = svc.show("market.by_district", "cap", direction="upstream")
    physical = next(d for d in up.reached if d.startswith(("sqlite:", "duckdb:")))
    full = svc.impact(physical, "zczb")
    kinds = {i["kind"]: i for i in full["affected"]}
    assert {"catalog", "virtual_table", "view", "query"} <= set(kinds)
    assert kinds["catalog"]["depth"] == 1 and kinds["catalog"]["owners"][0].startswith("department:")
    assert kinds["catalog"]["columns"] == ["zczb"] and kinds["catalog"]["via"] == ["DIRECT"]
    assert set(full["owners"]) >= {*kinds["catalog"]["owners"], "user:steward_mr"}
    near = svc.impact(physical, "zczb", depth=2)
    assert [(i["dataset"], i["depth"]) for i in near["affected"]] == \
        [(i["dataset"], i["depth"]) for i in full["affected"] if i["depth"] <= 2]
    assert {"catalog", "virtual_table"} <= {i["kind"] for i in near["affected"]}
    assert not {"view", "query"} & {i["kind"] for i in near["affected"]}
    with pytest.raises(ValidationFailed):
        svc.impact(physical, "zczb", depth=0)


def _reference(edges: list[tuple[str, str, str, str, str]], root: str, column: str | None,
               depth: int | None) -> list[tuple[str, int, list[str], list[str]]]:
    """Impact analysis by the definition, on explicit nodes: a column node per (dataset, field) and a
    whole-dataset node per dataset; shortest paths where only links between datasets count (0-1 BFS)."""
    out: dict[tuple, list[tuple[tuple, str | None]]] = defaultdict(list)
    columns: dict[str, set[str]] = {}
    for src, sf, dst, df, kind in edges:
        for ds, f in ((src, sf), (dst, df)):
            columns.setdefault(ds, set()).update([f] if f else [])
        if kind == "DATASET":
            out[("w", src)].append((("w", dst), "DATASET"))
        elif kind == "INDIRECT" or not df:
            out[("c", src, sf)].append((("w", dst), "INDIRECT"))
        else:
            out[("c", src, sf)].append((("c", dst, df), kind))
    for ds, fields in columns.items():
        out[("w", ds)] += [(("c", ds, f), None) for f in fields]  # a whole dataset: all its columns

    def follows(u: tuple, v: tuple) -> bool:
        return u[1] == v[1] or depth is None or dist[u] < depth

    start = ("w", root) if column is None else ("c", root, column)
    dist = {start: 0}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v, _ in out[u]:
            w = 0 if u[1] == v[1] else 1
            if follows(u, v) and (v not in dist or dist[u] + w < dist[v]):
                dist[v] = dist[u] + w
                queue.appendleft(v) if w == 0 else queue.append(v)
    reached: dict[str, tuple[list[int], set[str], set[str]]] = {}
    for node, d in dist.items():
        r = reached.setdefault(node[1], ([d], set(), set()))
        r[0][0] = min(r[0][0], d)
        if node[0] == "w":
            r[1].add("*")
    for u in dist:
        for v, kind in out[u]:
            if kind is not None and follows(u, v):
                reached[v[1]][2].add(kind)
                if v[0] == "c":
                    reached[v[1]][1].add(v[2])
    return sorted(((ds, r[0][0], sorted(r[1]), sorted(r[2])) for ds, r in reached.items() if ds != root),
                  key=lambda t: (t[1], t[0]))


def _cycles_by_reachability(edges: list[tuple[str, str, str, str, str]]) -> dict[str, list[str]]:
    """Dataset → the sorted datasets of its cycle (mutually reachable, or a self-loop)."""
    nxt: dict[str, set[str]] = defaultdict(set)
    for src, _, dst, _, _ in edges:
        nxt[src].add(dst)

    def reach(a: str) -> set[str]:
        seen, todo = set(), [a]
        while todo:
            for b in nxt[todo.pop()]:
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    r = {a: reach(a) for a in {e[0] for e in edges} | {e[2] for e in edges}}
    return {a: sorted(b for b in r if a in r[b] and b in r[a]) for a in r if a in r[a]}


@pytest.mark.parametrize("seed", range(6))
def test_impact_matches_the_definition_on_random_cyclic_graphs(seed: int) -> None:
    rng = random.Random(seed)
    names = [f"n/d{i}" for i in range(25)]
    fields = ["a", "b", "c", "d"]
    edges: list[tuple[str, str, str, str, str]] = []
    for _ in range(70):
        src, dst = rng.choice(names), rng.choice(names)  # backwards links and self-links make cycles
        kind = rng.choices(["DIRECT", "INDIRECT", "DATASET", "MASKED"], [6, 2, 2, 1])[0]
        if kind == "DATASET":
            edges.append((src, "", dst, "", kind))
        else:
            edges.append((src, rng.choice(fields), dst, "" if kind == "INDIRECT" else rng.choice(fields), kind))
    edges += edges[:5]  # the same link from another run
    g = LineageGraph()
    for src, sf, dst, df, kind in edges:
        g.add(src, sf, dst, df, kind, rng.choice([None, "FILTER"]), "job", "u")
    cycle_of = _cycles_by_reachability(edges)
    for root in g.datasets():
        for column in [None, *g.columns(root)]:
            for depth in (None, 1, 2):
                hit = g.impact(root, column, depth)
                got = list(zip(hit.names, hit.depths, hit.columns, hit.via, strict=True))
                assert got == _reference(edges, root, column, depth), (root, column, depth)
                want = {tuple(cycle_of[d]) for d in [root, *hit.names] if d in cycle_of}
                assert sorted(map(tuple, hit.cycles)) == sorted(want)


def test_query_edges_are_derived_not_stored_and_added_without_a_rebuild(demo, monkeypatch) -> None:
    """Issue 15 items 1 and 4: a query stores its event only; the graph derives its edges, and a
    built graph takes new query events as they commit, without reading the edges again."""
    from govfabric.governance.lineage import graph as graph_mod
    from govfabric.governance.lineage.models import LineageEdge

    svc = _build(demo)
    g = svc.graph()
    up = svc.upstream("market.enterprise", "district").as_dict()
    loads: list[int] = []
    real = LineageGraph.load
    monkeypatch.setattr(LineageGraph, "load", classmethod(lambda cls, store: loads.append(1) or real(store)))
    before = {d for d in g.datasets() if "/results/query/" in d}
    demo.sql("SELECT name, district FROM market.enterprise WHERE capital > 5")
    demo.sql("SELECT name, district FROM market.enterprise WHERE capital > 5")
    assert svc.graph() is g and loads == []  # added in place
    new = {d for d in g.datasets() if "/results/query/" in d} - before
    assert len(new) == 2
    with demo.store.session() as s:
        stored = s.scalars(select(LineageEdge.job_name).where(LineageEdge.job_name.like("virtual_query.%"))).all()
    assert stored == []
    impact_then = svc.impact("market.enterprise", "district")
    graph_mod.invalidate()  # a rebuild from the store derives the same graph
    fresh = svc.graph()
    assert fresh is not g and loads == [1]
    assert set(fresh.datasets()) == set(g.datasets())
    assert svc.impact("market.enterprise", "district") == impact_then
    assert svc.upstream("market.enterprise", "district").as_dict() == up
    for d in new:
        assert fresh.columns(d) and sorted(fresh.columns(d)) == sorted(g.columns(d))


def test_a_graph_not_read_for_many_queries_is_rebuilt_instead_of_kept_growing(demo, monkeypatch) -> None:
    from govfabric.governance.lineage import graph as graph_mod

    svc = _build(demo)
    g = svc.graph()
    monkeypatch.setattr(graph_mod, "MAX_PENDING", 2)
    for _ in range(3):
        demo.sql("SELECT name FROM market.enterprise")
    demo.store.flush_deferred()  # the queries' lineage events, written after their answers
    assert not graph_mod._derived.get(str(demo.store.engine.url))  # dropped, not kept growing
    fresh = svc.graph()
    assert fresh is not g and len([d for d in fresh.datasets() if "/results/query/" in d]) == len(
        [d for d in g.datasets() if "/results/query/" in d]) + 3


@pytest.mark.parametrize("seed", range(4))
def test_query_results_added_in_place_give_the_rebuilt_graphs_impact(seed: int) -> None:
    """Issue 15 item 4: a query's result (a new dataset fed by known ones) joins a graph whose impact
    index is built without rebuilding it, its cycles or what services derived; every impact, at every
    depth, equals that of the graph built from all the edges at once."""
    rng = random.Random(seed)
    names = [f"n/d{i}" for i in range(20)]
    base = _random_edges(rng, names, 50)
    g = LineageGraph()
    for e in base:
        g.add(*e)
    g.memo["other"] = object()  # what a service derived without a way to extend it: dropped
    g.impact(names[0])
    index, components = g._index, g._components
    known = [(s, f) for s, f, *_ in base if f] + [(d, f) for _, _, d, f, *_ in base if f]
    events = []
    for q in range(8):
        out = f"n/results/query/{q}"
        ins = rng.sample(known, 3)
        rows = [(s, "", out, "", "DATASET", None, "virtual_query.u", f"user{q % 3}") for s in {s for s, _ in ins}]
        rows += [(s, f, out, f"o{k}", "DIRECT", "IDENTITY", "virtual_query.u", f"user{q % 3}")
                 for k, (s, f) in enumerate(ins)]
        rows.append((ins[0][0], ins[0][1], out, "", "INDIRECT", "FILTER", "virtual_query.u", f"user{q % 3}"))
        events.append(rows)
        g.add_fresh(rows)
    assert g._index is index and g._components is components and "other" not in g.memo
    assert len(index.extra) == sum(map(len, events))
    full = LineageGraph()
    for e in base + [r for rows in events for r in rows]:
        full.add(*e)
    for root in full.datasets():
        for column in [None, *full.columns(root)]:
            for depth in (None, 1, 2):
                assert g.impact(root, column, depth) == full.impact(root, column, depth), (root, column, depth)


def test_impact_after_queries_keeps_the_index_and_knows_the_new_readers(demo) -> None:
    """After queries, impact does not rebuild the graph's index or its owners and consumers (issue 15
    item 4: p95 ≤ 50 ms right after a burst of queries); the report equals a rebuilt graph's."""
    from govfabric.governance.lineage import graph as graph_mod

    svc = _build(demo)
    g = svc.graph()
    first = svc.impact("market.enterprise", "district")
    index, known = g._index, g.memo[("whose", svc.ns)]
    demo.sql("SELECT name, district FROM market.enterprise WHERE capital > 5")
    demo.sql("SELECT district FROM market.enterprise")
    after = svc.impact("market.enterprise", "district")
    assert svc.graph() is g and g._index is index and g.memo[("whose", svc.ns)] is known
    assert len([i for i in after["affected"] if i["kind"] == "query"]) == \
        len([i for i in first["affected"] if i["kind"] == "query"]) + 2
    graph_mod.invalidate()
    assert svc.graph() is not g
    assert svc.impact("market.enterprise", "district") == after


def test_column_names_are_one_object_per_name(demo) -> None:
    """Rows bring a new string per edge; the graph keeps one per name, so a large impact report's column
    lists touch a few objects instead of one per column (the cache misses were a sixth of its CPU)."""
    _build(demo)
    g = LineageGraph.load(demo.store)
    by_name: dict[str, set[int]] = defaultdict(set)
    for _, name in g.col_of:
        by_name[name].add(id(name))
    assert [n for n, ids in by_name.items() if len(ids) > 1] == []
    assert any(sum(1 for _, n in g.col_of if n == name) > 1 for name in by_name)  # names do repeat


def test_what_a_large_graph_derives_is_frozen_with_it(demo, monkeypatch) -> None:
    """The impact index and the owners memo live as long as the graph: frozen with it, so the GC's full
    passes that large reports set off do not walk them again and again."""
    import gc

    from govfabric.governance.lineage import graph as graph_mod

    svc = _build(demo)
    monkeypatch.setattr(graph_mod, "FREEZE_AT", 0)
    graph_mod._cache.pop(str(demo.store.engine.url), None)
    try:
        report = svc.impact("market.enterprise")
        g = svc.graph()
        derived = {id(g._impact_index().col_lists), id(g._impact_index().fields),
                   *(id(v) for v in g.memo.values())}
        assert report["affected"] and g.memo
        assert not derived & {id(o) for o in gc.get_objects()}
    finally:
        if graph_mod._frozen[0]:
            gc.unfreeze()
            graph_mod._frozen[0] = False
        graph_mod._cache.pop(str(demo.store.engine.url), None)


def test_impact_names_the_consumers_of_assets_read_fresh(demo) -> None:
    """Favourites and recorded use name a catalog asset's consumers in its impact, read from the store
    at each call (no lineage event follows them)."""
    svc = _build(demo)
    up = svc.show("market.by_district", "cap", direction="upstream")
    physical = next(d for d in up.reached if d.startswith(("sqlite:", "duckdb:")))

    def catalog_consumers() -> list[str]:
        return next(i for i in svc.impact(physical, "zczb")["affected"] if i["kind"] == "catalog")["consumers"]

    first = catalog_consumers()
    demo.catalog.favorite_add(ASSET)
    demo.catalog.record_usage([ASSET], principal="reader9")
    now = catalog_consumers()
    assert {"reader9", demo.actor.name} <= set(now) and not {"reader9", demo.actor.name} <= set(first)
    assert now == sorted(now)


def test_impact_pages_cover_the_complete_report(demo) -> None:
    """``limit``/``offset`` page ``affected`` in report order; the totals, owners, consumers, counts and
    cycles still cover every dataset affected; the complete report is the default."""
    svc = _build(demo)
    demo.sql("SELECT name, district FROM market.enterprise WHERE capital > 5")  # a query result added in place
    full = svc.impact("market.enterprise", "district")
    assert full["total"] == len(full["affected"]) >= 3 and full["limit"] is None and not full["truncated"]
    pages = [svc.impact("market.enterprise", "district", limit=2, offset=o) for o in range(0, full["total"] + 2, 2)]
    assert [i for p in pages for i in p["affected"]] == full["affected"]
    for p in pages:
        assert {k: p[k] for k in ("owners", "consumers", "counts", "cycles", "total")} == \
            {k: full[k] for k in ("owners", "consumers", "counts", "cycles", "total")}
    assert pages[0]["truncated"] and pages[-1]["affected"] == []
    assert svc.impact("market.enterprise", "district", limit=0)["affected"] == []
    with pytest.raises(ValidationFailed):
        svc.impact("market.enterprise", limit=-1)


def test_a_repeated_impact_keeps_its_closure_and_sees_new_queries_at_once(demo, monkeypatch) -> None:
    """An impact asked again reuses the closure kept for the graph and target; a query run since shows in
    the very next report (its result merged in order), as on a graph rebuilt from the store."""
    from govfabric.governance.lineage import graph as graph_mod

    svc = _build(demo)
    first = svc.impact("market.enterprise", "capital")
    closures: list[int] = []
    real = graph_mod._ImpactIndex.reach
    monkeypatch.setattr(graph_mod._ImpactIndex, "reach", lambda self, *a: closures.append(1) or real(self, *a))
    assert svc.impact("market.enterprise", "capital") == first and closures == []
    demo.sql("SELECT name FROM market.enterprise WHERE capital > 7")
    after = svc.impact("market.enterprise", "capital")
    assert closures == [] and after["total"] == first["total"] + 1
    assert after["counts"]["query"] == first["counts"]["query"] + 1
    assert [(i["depth"], i["dataset"]) for i in after["affected"]] == \
        sorted((i["depth"], i["dataset"]) for i in after["affected"])
    graph_mod.invalidate()
    assert svc.impact("market.enterprise", "capital") == after


def test_a_replaced_events_edges_vanish_from_the_next_impact(demo) -> None:
    """Replacing a view replaces its lineage event: the graph is rebuilt and the reports kept with the old
    one go with it, so what the old definition read no longer reaches the view."""
    svc = _build(demo)

    def reached() -> set[str]:
        return {i["dataset"].rsplit("/", 1)[-1] for i in svc.impact("market.enterprise", "capital")["affected"]}

    assert "market.by_district" in reached()
    assert "market.by_district" in reached()  # kept
    demo.virtual.create_view("market.by_district", "SELECT district, count(*) AS n FROM market.enterprise "
                             "GROUP BY district", replace=True)
    assert "market.by_district" not in reached()
    assert "market.by_district" in {i["dataset"].rsplit("/", 1)[-1]
                                    for i in svc.impact("market.enterprise", "district")["affected"]}


@pytest.mark.parametrize("seed", range(3))
def test_kept_reports_follow_each_query_result_added(seed: int) -> None:
    """Every report kept before a query result joins the graph in place gives, right after, the impact of
    the graph built from all the edges at once, at every depth."""
    rng = random.Random(seed)
    names = [f"n/d{i}" for i in range(12)]
    base = _random_edges(rng, names, 30)
    g, full = LineageGraph(), LineageGraph()
    for e in base:
        g.add(*e)
        full.add(*e)
    known = [(s, f) for s, f, *_ in base if f]
    targets = [(root, column, depth) for root in sorted(set(names) & set(g.datasets()))
               for column in [None, *g.columns(root)] for depth in (None, 1, 2)]
    added: list[tuple] = []
    for q in range(6):
        for t in targets:
            assert g.impact(*t) == full.impact(*t), (q, t)
        out = f"n/results/query/{q}"
        ins = rng.sample(known, 2)
        rows = [(s, f, out, f"o{k}", "DIRECT", "IDENTITY", "virtual_query.u", "u") for k, (s, f) in enumerate(ins)]
        rows.append((ins[0][0], "", out, "", "DATASET", None, "virtual_query.u", "u"))
        g.add_fresh(rows)
        added += rows
        full = LineageGraph()
        for e in base + added:
            full.add(*e)
    assert g._reports and len(g._index.extra) == len(added)  # kept, and added in place throughout


def _many_assets(fabric, n: int = 40) -> tuple[str, list[str]]:
    """A dataset whose column feeds ``n`` catalog assets (three departments, each used by two of five
    users); returns it and the assets' ids."""
    from datetime import UTC, datetime

    from govfabric.catalog.models import Asset, Usage
    from govfabric.governance.lineage.models import LineageEdge
    from govfabric.store.base import new_id

    ns, cat_ns = ev.namespace(fabric), ev.catalog_namespace(fabric)
    assets = [{"id": new_id(), "qualified_name": f"bulk.main.t{i:02d}", "name": f"t{i:02d}",
               "owner_department": f"dept{i % 3}"} for i in range(n)]
    root = f"{ns}/bulk.root"
    with fabric.store.session() as s:
        eid = new_id()
        s.add(LineageEvent(id=eid, run_id=new_id(), event_type="COMPLETE", event_time=datetime.now(UTC),
                           job_namespace=ns, job_name="bulk", payload={}))
        s.execute(Asset.__table__.insert(), assets)
        s.execute(Usage.__table__.insert(), [{"id": new_id(), "asset_id": a["id"], "principal": f"user{(k + j) % 5}",
                                              "kind": "use", "count": 1} for k, a in enumerate(assets) for j in (0, 1)])
        s.execute(LineageEdge.__table__.insert(), [
            {"id": new_id(), "src": root, "src_field": "a", "dst": f"{cat_ns}/{a['qualified_name']}",
             "dst_field": "a", "kind": "DIRECT", "subtype": "IDENTITY", "job_name": "bulk", "actor": "u",
             "event_id": eid} for a in assets])
    return root, [a["id"] for a in assets]


def test_a_page_reads_whose_for_all_in_one_bind_and_stays_exact(demo) -> None:
    """A page of a report over many catalog assets reads the departments and consumers of them all with
    one parameter per list (not one per asset id or name), and the page's own assets only; what changed
    in the store without a lineage event (a department, a new consumer) shows in the very next page."""
    from sqlalchemy import event

    from govfabric.catalog.models import Asset, Favourite

    root, ids = _many_assets(demo)
    svc = LineageService(demo)
    full = svc.impact(root, "a")
    assert full["total"] == len(ids) and len({i["dataset"] for i in full["affected"]}) == len(ids)
    seen: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(len(parameters))

    event.listen(demo.store.engine, "before_cursor_execute", count)
    try:
        page = svc.impact(root, "a", limit=2, offset=3)
    finally:
        event.remove(demo.store.engine, "before_cursor_execute", count)
    assert page["affected"] == full["affected"][3:5]
    assert {k: page[k] for k in ("owners", "consumers", "counts", "total")} == \
        {k: full[k] for k in ("owners", "consumers", "counts", "total")}
    assert max(seen) <= 5, seen  # one bind per list (names 3×, ids 2× in one statement), whatever their length
    last = ids[-1]  # not on the page
    with demo.store.session() as s:
        s.execute(Asset.__table__.update().where(Asset.id == last).values(owner_department="dept_new"))
        s.add(Favourite(principal="newcomer", asset_id=last))
    page = svc.impact(root, "a", limit=2)
    assert "department:dept_new" in page["owners"] and "newcomer" in page["consumers"]
    assert page == {**svc.impact(root, "a"), "affected": page["affected"], "limit": 2, "truncated": True}


@pytest.mark.parametrize("seed", range(3))
def test_a_reports_column_lists_built_per_page_match_the_whole(seed: int) -> None:
    """The column lists a kept report builds as asked for (an item, a slice, all) are the complete
    report's, in order."""
    rng = random.Random(seed)
    g = LineageGraph()
    for _ in range(60):
        src, dst = f"n/d{rng.randrange(15)}", f"n/d{rng.randrange(15)}"
        kind = rng.choices(["DIRECT", "INDIRECT", "DATASET"], [6, 2, 2])[0]
        g.add(src, "" if kind == "DATASET" else rng.choice("abcd"), dst,
              "" if kind != "DIRECT" else rng.choice("abcd"), kind, None, "job", "u")
    for root in g.datasets():
        for column in [None, *g.columns(root)]:
            r = g.impact_report(root, column)
            whole = list(r.columns)
            assert whole == [r.columns[i] for i in range(len(whole))] == list(r.columns[:])
            assert all(isinstance(c, tuple) and list(c) == sorted(c) for c in whole)
            for a in range(len(whole) + 1):
                assert list(r.columns[a:a + 3]) == whole[a:a + 3]
            if whole:
                assert r.columns[-1] == whole[-1]


def _random_edges(rng: random.Random, names: list[str], n: int) -> list[tuple]:
    """``n`` random column/dataset links between ``names`` (fields a–c), as ``LineageGraph.add`` takes them."""
    fields = ["a", "b", "c"]
    base: list[tuple] = []
    for _ in range(n):
        src, dst = rng.choice(names), rng.choice(names)
        kind = rng.choices(["DIRECT", "INDIRECT", "DATASET"], [6, 2, 2])[0]
        sf = "" if kind == "DATASET" else rng.choice(fields)
        df = "" if kind != "DIRECT" else rng.choice(fields)
        base.append((src, sf, dst, df, kind, None, "job", "u"))
    return base
