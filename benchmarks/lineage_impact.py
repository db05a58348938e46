"""Impact analysis on a large lineage graph: p95 latency of ``LineageService.impact`` (goal ≤ 100 ms).

The graph (default 10,000 datasets × 10 columns = 100,000 columns, the issue's size; every column of
every dataset is in it) is written straight into the store of a fresh SQLite workspace. 10% are
source datasets, catalog assets owned by 20 departments and used by 3 users each; each other
dataset is derived from two earlier ones (DIRECT per column, plus an INDIRECT filter edge and
DATASET edges) and is a virtual table, a view, a query result or a plain dataset, so the report's
"whose" (departments, creators, consumers, query users) is looked up as in a real workspace.
Source columns no derivation picked feed an extra input of a later column (``a + b``), so none is
left out. Every fifth query asks about a whole dataset, the others about one column. The anchor:
the goal of 100 ms, measured against in the same run.

    python benchmarks/lineage_impact.py [--datasets N] [--columns C] [--queries Q]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_MS = 100.0
DEPARTMENTS = 20
USERS = 50


def populate(fabric: Any, n_datasets: int, n_columns: int, seed: int = 7) -> tuple[list[str], list[str], int]:
    """Write the graph (and the catalog assets, virtual tables and views it names); returns the dataset
    names, the column names and the number of edges."""
    from datetime import UTC, datetime

    from govfabric.catalog.models import Asset, Usage
    from govfabric.governance.lineage.events import catalog_namespace, namespace
    from govfabric.governance.lineage.models import LineageEdge, LineageEvent
    from govfabric.store.base import new_id
    from govfabric.virtualization.models import VirtualTableRow, VirtualViewRow

    rng = random.Random(seed)
    ns, cat_ns = namespace(fabric), catalog_namespace(fabric)
    n_src = max(1, n_datasets // 10)
    names, assets, tables, views = [], [], [], []
    for i in range(n_datasets):
        user = f"user{i % USERS}"
        if i < n_src:
            names.append(f"{cat_ns}/dept{i % DEPARTMENTS}.main.t{i}")
            assets.append({"id": new_id(), "qualified_name": names[-1].rsplit("/", 1)[1], "name": f"t{i}",
                           "owner_department": f"dept{i % DEPARTMENTS}"})
        elif i % 4 == 0:
            names.append(f"{ns}/vt.d{i}")
            tables.append({"name": f"vt.d{i}", "asset_id": assets[i % n_src]["id"], "created_by": user})
        elif i % 4 == 1:
            names.append(f"{ns}/v.d{i}")
            views.append({"name": f"v.d{i}", "sql": "SELECT 1", "created_by": user})
        elif i % 4 == 2:
            names.append(f"{ns}/results/q{i}")
        else:
            names.append(f"{ns}/l{i % 7}.d{i}")
    cols = [f"c{j}" for j in range(n_columns)]
    rows: list[dict[str, Any]] = []
    used: set[tuple[int, str]] = set()
    for i in range(n_src, n_datasets):
        ups = rng.sample(range(max(0, i - 500), i), k=min(2, i))
        for u in ups:
            rows.append(dict(src=names[u], src_field="", dst=names[i], dst_field="", kind="DATASET", a=i))
        for j, c in enumerate(cols):
            u = ups[j % len(ups)]
            f = rng.choice(cols)
            used.add((u, f))
            rows.append(dict(src=names[u], src_field=f, dst=names[i], dst_field=c, kind="DIRECT",
                             subtype="IDENTITY", a=i))
        used.add((ups[0], cols[0]))
        rows.append(dict(src=names[ups[0]], src_field=cols[0], dst=names[i], dst_field="", kind="INDIRECT",
                         subtype="FILTER", a=i))
    for u in range(n_src):  # source columns no derivation picked: a second input of a later column
        for c in cols:
            if (u, c) not in used:
                lo = max(u + 1, n_src)
                i = rng.randrange(lo, min(lo + 500, n_datasets))
                rows.append(dict(src=names[u], src_field=c, dst=names[i], dst_field=rng.choice(cols),
                                 kind="DIRECT", subtype="TRANSFORMATION", a=i))
    with fabric.store.session() as s:
        s.add(LineageEvent(run_id=new_id(), event_type="COMPLETE", event_time=datetime.now(UTC),
                           job_namespace=ns, job_name="bench", payload={}))
        s.execute(Asset.__table__.insert(), assets)
        s.execute(Usage.__table__.insert(), [  # three regular users of each asset: its consumers
            {"id": new_id(), "asset_id": a["id"], "principal": f"user{(k * 7 + j) % USERS}", "kind": "use",
             "count": 1} for k, a in enumerate(assets) for j in range(3)])
        if tables:
            s.execute(VirtualTableRow.__table__.insert(), tables)
        if views:
            s.execute(VirtualViewRow.__table__.insert(), views)
        eid = new_id()
        for k in range(0, len(rows), 20_000):
            s.execute(LineageEdge.__table__.insert(), [
                {"src": r["src"], "src_field": r["src_field"], "dst": r["dst"], "dst_field": r["dst_field"],
                 "kind": r["kind"], "subtype": r.get("subtype"), "id": new_id(), "job_name": f"job.d{r['a']}",
                 "actor": f"user{r['a'] % USERS}", "event_id": eid} for r in rows[k:k + 20_000]])
    return names, cols, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=10_000)
    ap.add_argument("--columns", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    from govfabric.fabric import init_workspace
    from govfabric.governance.lineage.service import LineageService

    with tempfile.TemporaryDirectory() as tmp:
        fabric = init_workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        names, cols, n_edges = populate(fabric, args.datasets, args.columns)
        load_s = time.perf_counter() - t0
        svc = LineageService(fabric)
        t0 = time.perf_counter()
        g = svc.graph()
        build_s = time.perf_counter() - t0
        n_ds, n_cols = len(g.ds_names), len(g.col_of)
        rng = random.Random(11)
        upstream_half = names[: args.datasets // 2]  # impacts reach far
        targets = [(rng.choice(upstream_half), None if q % 5 == 4 else rng.choice(cols))
                   for q in range(args.queries)]
        t0 = time.perf_counter()
        svc.impact(*targets[0])  # the first call also builds what is computed once per graph
        first_ms = (time.perf_counter() - t0) * 1000
        lat, cpu, affected, owners = [], [], [], []
        for ds, c in targets:
            t0, c0 = time.perf_counter(), time.process_time()
            rep = svc.impact(ds, c)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            affected.append(len(rep["affected"]))
            owners.append(len(rep["owners"]))
        load = os.getloadavg()
        fabric.close()
    lat.sort()
    cpu.sort()
    p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
    cpu_p95 = cpu[int(0.95 * (len(cpu) - 1))]
    result = {"datasets": args.datasets, "datasets_in_graph": n_ds, "columns_in_graph": n_cols, "edges": n_edges,
              "queries": args.queries, "load_edges_s": round(load_s, 2), "graph_build_s": round(build_s, 2),
              "first_impact_ms": round(first_ms, 1),
              "impact_p50_ms": round(p50, 1), "impact_p95_ms": round(p95, 1), "impact_max_ms": round(lat[-1], 1),
              "impact_cpu_p95_ms": round(cpu_p95, 1), "load_avg": [round(x, 2) for x in load],
              "cpus": os.cpu_count(), "mean_affected_datasets": round(statistics.mean(affected), 1),
              "max_affected_datasets": max(affected), "mean_owners": round(statistics.mean(owners), 1),
              "goal_ms": GOAL_MS, "p95_vs_goal": round(p95 / GOAL_MS, 3)}
    print(f"anchor: goal {GOAL_MS:.0f} ms p95; measured p95 {p95:.1f} ms (ratio {p95 / GOAL_MS:.2f}); "
          f"p50 {p50:.1f} ms; max {lat[-1]:.1f} ms; CPU p95 {cpu_p95:.1f} ms "
          f"(load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs); "
          f"graph {n_ds} datasets / {n_cols} columns / {n_edges} edges, built in {build_s:.2f} s "
          f"(first impact {first_ms:.0f} ms); "
          f"affected datasets mean {result['mean_affected_datasets']} max {result['max_affected_datasets']}")
    out = Path(__file__).parent / "results" / "lineage_impact.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
