"""Pipeline overhead alone: parse → validate → authorise → rewrite → transpile, per TPC-H query.

The 22 TPC-H queries come from DuckDB's tpch extension (loaded offline from its wheel). Each
TPC-H table is mapped 1:1 to a virtual table ``tpch.<name>``; the principal is granted every
table (``--policy masked`` adds a row filter and two masked columns). Reports the median plan
time per query and, as the anchor measured in the same run, the median time of bare sqlglot
``parse_one`` + ``sql()`` of the same query (what any sqlglot transpilation costs).
Goal: median plan time ≤ 5 ms.

    python benchmarks/sql_pipeline_overhead.py [--repeat 30] [--engine duckdb|trino] [--policy masked]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot
from duckdb_extensions import import_extension

from govfabric.virtualization.pipeline import plan
from govfabric.virtualization.policy import (
    MappingResolver,
    MaskSpec,
    Policy,
    TableGrant,
    VirtualColumn,
    VirtualTable,
)

RESULTS = Path(os.environ.get("GOVFABRIC_BENCH_RESULTS") or Path(__file__).parent / "results")  # see common.RESULTS


def tpch_queries_and_schema() -> tuple[list[tuple[int, str]], dict[str, list[tuple[str, str]]]]:
    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{tempfile.mkdtemp(prefix='duckext')}'")
    import_extension("tpch", con=con)
    con.execute("LOAD tpch")
    queries = [(int(n), q) for n, q in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall()]
    con.execute("CALL dbgen(sf = 0)")
    schema: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        schema.setdefault(table, []).append((column, dtype))
    return queries, schema


def virtualise(
    queries: list[tuple[int, str]], schema: dict[str, list[tuple[str, str]]]
) -> list[tuple[int, str]]:
    """Point each query's bare TPC-H table names at the virtual ``tpch.`` names (on the AST)."""
    out = []
    for n, q in queries:
        tree = sqlglot.parse_one(q, read="duckdb")
        for table in tree.find_all(sqlglot.exp.Table):
            if not table.db and table.name in schema:
                table.set("db", sqlglot.exp.to_identifier("tpch"))
        out.append((n, tree.sql("duckdb")))
    return out


def build(schema: dict[str, list[tuple[str, str]]], masked: bool) -> tuple[MappingResolver, Policy]:
    tables = [
        VirtualTable(
            name=f"tpch.{name}",
            physical={"duckdb": ("memory", "main", name), "trino": ("tpch", "sf1", name)},
            columns=tuple(VirtualColumn(c, physical=c, type=t) for c, t in cols),
        )
        for name, cols in schema.items()
    ]
    grants = {t.name: TableGrant() for t in tables}
    if masked:
        grants["tpch.customer"] = TableGrant(
            masks={"c_phone": MaskSpec("mobile"), "c_name": MaskSpec("hash", {"salt": "s"})},
            row_filters=("c_mktsegment <> 'NONE'",),
        )
    return MappingResolver(tables), Policy(principal="bench", tables=grants)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--engine", default="duckdb", choices=["duckdb", "trino"])
    ap.add_argument("--policy", default="plain", choices=["plain", "masked"])
    args = ap.parse_args()

    raw_queries, schema = tpch_queries_and_schema()
    queries = virtualise(raw_queries, schema)
    resolver, policy = build(schema, args.policy == "masked")
    per_query = []
    for (n, q), (_, raw) in zip(queries, raw_queries, strict=True):
        plan(q, resolver=resolver, policy=policy, engine=args.engine)  # warm caches
        times, anchor = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            plan(q, resolver=resolver, policy=policy, engine=args.engine)
            t1 = time.perf_counter()
            sqlglot.parse_one(raw, read="duckdb").sql(args.engine)
            t2 = time.perf_counter()
            times.append(t1 - t0)
            anchor.append(t2 - t1)
        med, anc = statistics.median(times) * 1e3, statistics.median(anchor) * 1e3
        per_query.append(
            {
                "query": n,
                "plan_ms": round(med, 3),
                "parse_generate_ms": round(anc, 3),
                "ratio": round(med / anc, 2),
            }
        )
        print(f"Q{n:02d}  plan {med:6.2f} ms   sqlglot parse+generate {anc:6.2f} ms   ×{med / anc:4.2f}")
    med_all = statistics.median(r["plan_ms"] for r in per_query)
    anc_all = statistics.median(r["parse_generate_ms"] for r in per_query)
    print(
        f"median over 22 queries: plan {med_all:.2f} ms (goal ≤ 5 ms), anchor {anc_all:.2f} ms, "
        f"ratio ×{med_all / anc_all:.2f}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "engine": args.engine,
        "policy": args.policy,
        "repeat": args.repeat,
        "median_plan_ms": round(med_all, 3),
        "median_anchor_ms": round(anc_all, 3),
        "goal_ms": 5.0,
        "queries": per_query,
    }
    (RESULTS / "sql_pipeline_overhead.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
