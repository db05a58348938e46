"""Planning time against the size of the SELECT list: linear, not quadratic (issue 10, hole 14).

Plans ``SELECT capital + 0 AS a0, capital + 1 AS a1, … FROM market.enterprise`` (N items) as the
service does — the pipeline's plan, then the query's column lineage (the run event's template) —
for N = 250, 500, 1000, 2000 (and 4000 with a raised ``query_max_select_items``). Before the fix,
1,000 items took 40 s and 4,000 over 300 s (sqlglot's lineage copied the query per column).
Goal: the 2000/500 ratio near 4 (linear), far from 16 (quadratic); 4,000 items ≤ 2 s.

    python benchmarks/bench_plan_size.py [--sizes 250 500 1000 2000 4000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from govfabric.governance.lineage.columns import query_lineage
from govfabric.virtualization.pipeline import plan
from govfabric.virtualization.validate import Limits, limits

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "virtualization"))
from virt_world import POLICIES, resolver


def select_list(n: int) -> str:
    return "SELECT " + ", ".join(f"capital + {i} AS a{i}" for i in range(n)) + " FROM market.enterprise"  # noqa: S608


def plan_once(sql: str) -> float:
    t0 = time.perf_counter()
    planned = plan(sql, engine="duckdb", resolver=resolver(), policy=POLICIES["analyst"], keep_virtual=True)
    assert planned.virtual_expression is not None
    query_lineage(planned.virtual_expression, "bench", {})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    seconds: dict[int, float] = {}
    with limits(Limits(max_select_items=max(args.sizes), max_nodes=10 * max(args.sizes) + 1000)):
        for n in args.sizes:
            sql = select_list(n)
            seconds[n] = statistics.median(plan_once(sql) for _ in range(args.repeat))
            print(f"N={n:>5}  plan + lineage {seconds[n] * 1000:8.1f} ms  ({seconds[n] / n * 1e6:6.1f} µs/item)")
    if 500 in seconds and 2000 in seconds:
        r = seconds[2000] / seconds[500]
        print(f"ratio 2000/500 = {r:.1f} (linear 4, quadratic 16)")


if __name__ == "__main__":
    main()
