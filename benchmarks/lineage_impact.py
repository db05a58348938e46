"""Impact analysis on a large lineage graph: p95 latency of ``LineageService.impact`` (goal ≤ 100 ms).

The graph (default 10,000 datasets × 10 columns = 100,000 columns, the issue's size) is
written straight into ``gov_lineage_edges`` of a fresh SQLite workspace: 10% source
datasets, the rest each derived from two earlier datasets (DIRECT per column, plus an
INDIRECT filter edge). The anchor: the goal of 100 ms, measured against in the same run.

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
from datetime import UTC, datetime
from pathlib import Path

GOAL_MS = 100.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=int, default=10_000)
    ap.add_argument("--columns", type=int, default=10)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    from govfabric.fabric import init_workspace
    from govfabric.governance.lineage.events import namespace
    from govfabric.governance.lineage.models import LineageEdge, LineageEvent
    from govfabric.governance.lineage.service import LineageService
    from govfabric.store.base import new_id

    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        fabric = init_workspace(Path(tmp) / "ws")
        ns = namespace(fabric)
        names = [f"{ns}/l{i % 7}.d{i}" for i in range(args.datasets)]
        cols = [f"c{j}" for j in range(args.columns)]
        n_src = max(1, args.datasets // 10)
        t0 = time.perf_counter()
        rows = []
        for i in range(n_src, args.datasets):
            ups = rng.sample(range(max(0, i - 500), i), k=min(2, i))
            for u in ups:
                rows.append(dict(src=names[u], src_field="", dst=names[i], dst_field="", kind="DATASET"))
            for j, c in enumerate(cols):
                u = ups[j % len(ups)]
                rows.append(dict(src=names[u], src_field=rng.choice(cols), dst=names[i], dst_field=c,
                                 kind="DIRECT", subtype="IDENTITY"))
            rows.append(dict(src=names[ups[0]], src_field=cols[0], dst=names[i], dst_field="", kind="INDIRECT",
                             subtype="FILTER"))
        with fabric.store.session() as s:
            s.add(LineageEvent(run_id=new_id(), event_type="COMPLETE", event_time=datetime.now(UTC),
                               job_namespace=ns, job_name="bench", payload={}))
            eid = new_id()
            for k in range(0, len(rows), 20_000):
                s.execute(LineageEdge.__table__.insert(), [
                    {**r, "id": new_id(), "job_name": "bench", "actor": "bench", "event_id": eid,
                     "subtype": r.get("subtype")} for r in rows[k:k + 20_000]])
        load_s = time.perf_counter() - t0
        svc = LineageService(fabric)
        t0 = time.perf_counter()
        g = svc.graph()
        build_s = time.perf_counter() - t0
        n_cols = len(g.col_of)
        lat, cpu, affected = [], [], []
        present = g.ds_names[: len(g.ds_names) // 2]  # upstream half: impacts reach far
        targets = [(rng.choice(present), rng.choice(cols)) for _ in range(args.queries)]
        for ds, c in targets:
            if c not in g.columns(ds):
                c = None  # type: ignore[assignment]
            t0, c0 = time.perf_counter(), time.process_time()
            rep = svc.impact(ds, c)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            affected.append(len(rep["affected"]))
        lat.sort()
        cpu.sort()
        p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
        cpu_p95 = cpu[int(0.95 * (len(cpu) - 1))]
        load = os.getloadavg()[0]
        result = {"datasets": args.datasets, "columns_in_graph": n_cols, "edges": len(rows),
                  "load_edges_s": round(load_s, 2), "graph_build_s": round(build_s, 2),
                  "impact_p50_ms": round(p50, 1), "impact_p95_ms": round(p95, 1), "impact_max_ms": round(lat[-1], 1),
                  "impact_cpu_p95_ms": round(cpu_p95, 1), "load_avg_1m": round(load, 1), "cpus": os.cpu_count(),
                  "mean_affected_datasets": round(statistics.mean(affected), 1), "goal_ms": GOAL_MS,
                  "p95_vs_goal": round(p95 / GOAL_MS, 3)}
        fabric.close()
    print(f"anchor: goal {GOAL_MS:.0f} ms p95; measured p95 {p95:.1f} ms (ratio {p95 / GOAL_MS:.2f}); "
          f"p50 {p50:.1f} ms; CPU p95 {cpu_p95:.1f} ms (load {load:.1f} on {os.cpu_count()} CPUs); "
          f"graph {args.datasets} datasets / {n_cols} columns / {len(rows)} edges, "
          f"built in {build_s:.2f} s; mean affected datasets {result['mean_affected_datasets']}")
    out = Path(__file__).parent / "results" / "lineage_impact.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
