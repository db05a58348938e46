"""govfabric's own cost per query (issue 15 item 1, issue 11 "own cost ≤ 2 ms"), in process, one thread,
on a SQLite store AND a PostgreSQL store, with the raw SELECT as the same-run anchor.

Setup (not timed): a throwaway PostgreSQL source database with ``enterprise(uscc PRIMARY KEY, …)`` of
``--rows`` rows, a workspace per store kind where a steward maps ``market.enterprise``, publishes
``ent_lookup`` (``uscc:eq``) and grants it to an app (see ``service_lookup.py``).

Measured per store (medians, ms):

- ``sql``: ``fabric.sql`` of one point lookup as the app, the same text each time (cached plan);
- ``call``: ``fabric.query_api.call`` as the app, a new ``uscc`` per call (as in production);
- ``raw``: the same SELECT on a psycopg connection.

Own cost = median − raw; goals ≤ 1 ms (sql, issue 15) and ≤ 2 ms (call, issue 11).

    python benchmarks/query_overhead.py [--rows 100000] [--calls 300] [--store sqlite,pg]
        [--loop SECONDS]   # only run the service call in a loop, for ``py-spy record``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import common

sys.path.insert(0, str(Path(__file__).parent))
from service_lookup import SELECT, SERVICE, create_table, uscc, workspace


def measure(fabric: Any, source_url: str, rows: int, n: int) -> dict[str, Any]:
    import psycopg

    rnd = random.Random(1)
    app = fabric.as_user("bench_app")
    point = f"SELECT name, district, capital FROM market.enterprise WHERE uscc = '{uscc(7)}'"  # noqa: S608
    for _ in range(20):  # warm up: engine attached, plans, pools
        app.query_api.call(SERVICE, {"uscc": [uscc(rnd.randrange(rows))]})
        app.sql(point, engine="auto")
    out: dict[str, list[float]] = {"sql": [], "call": [], "raw": [], "sql_cpu": [], "call_cpu": [], "raw_cpu": []}
    clock = time.thread_time  # this thread's CPU time: what a busy machine's waiting does not inflate
    with psycopg.connect(source_url, autocommit=True) as conn:
        for _ in range(n):  # interleaved: the same load for each measure
            t0, c0 = time.perf_counter(), clock()
            assert app.sql(point, engine="auto").num_rows == 1
            t1, c1 = time.perf_counter(), clock()
            assert app.query_api.call(SERVICE, {"uscc": [uscc(rnd.randrange(rows))]}).table.num_rows == 1
            t2, c2 = time.perf_counter(), clock()
            assert len(conn.execute(SELECT, (uscc(rnd.randrange(rows)),)).fetchall()) == 1
            t3, c3 = time.perf_counter(), clock()
            for k, a, b in (("sql", t0, t1), ("call", t1, t2), ("raw", t2, t3)):
                out[k].append((b - a) * 1000)
            for k, a, b in (("sql_cpu", c0, c1), ("call_cpu", c1, c2), ("raw_cpu", c2, c3)):
                out[k].append((b - a) * 1000)
    med = {k: round(statistics.median(v), 3) for k, v in out.items()}
    return {"calls": n, "median_ms": med, "own_sql_ms": round(med["sql"] - med["raw"], 3),
            "own_call_ms": round(med["call"] - med["raw"], 3),
            "own_sql_cpu_ms": round(med["sql_cpu"] - med["raw_cpu"], 3),
            "own_call_cpu_ms": round(med["call_cpu"] - med["raw_cpu"], 3)}


def loop(fabric: Any, rows: int, seconds: float) -> None:
    rnd = random.Random(2)
    app = fabric.as_user("bench_app")
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        app.query_api.call(SERVICE, {"uscc": [uscc(rnd.randrange(rows))]})
        n += 1
    print(f"{n} calls in {seconds} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--store", default="sqlite,pg", help="comma-separated: sqlite, pg")
    ap.add_argument("--loop", type=float, default=0, help="seconds of service calls only (for py-spy)")
    ap.add_argument("--no-write", action="store_true", help="do not write results/query_overhead.json")
    common.add_pg_url_argument(ap)
    args = ap.parse_args()
    server_url = args.pg_url or os.environ.get("GOVFABRIC_TEST_PG_URL")
    if not server_url:
        raise SystemExit("give --pg-url (or set $GOVFABRIC_BENCH_PG_URL): the source is PostgreSQL")
    results: dict[str, Any] = {"rows": args.rows, "load_before": [round(x, 2) for x in os.getloadavg()]}
    with ExitStack() as stack:
        source_url = stack.enter_context(common.pg_database(server_url, "gfbench_src"))
        create_table(source_url, args.rows)
        for kind in args.store.split(","):
            store_url = stack.enter_context(common.pg_database(server_url, "gfbench_store")) if kind == "pg" else None
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gf-overhead-")))
            fabric, _ = workspace(tmp / "ws", store_url, source_url)
            stack.callback(fabric.close)
            if args.loop:
                loop(fabric, args.rows, args.loop)
                continue
            results[kind] = got = measure(fabric, source_url, args.rows, args.calls)
            common.print_table(["measure", "median ms"], [[k, v] for k, v in got["median_ms"].items()]
                               + [["own cost sql (sql - raw)", got["own_sql_ms"]],
                                  ["own cost call (call - raw)", got["own_call_ms"]],
                                  ["own CPU sql (sql_cpu - raw_cpu)", got["own_sql_cpu_ms"]],
                                  ["own CPU call (call_cpu - raw_cpu)", got["own_call_cpu_ms"]]],
                               title=f"{kind} store, in process, one thread")
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if not args.loop and not args.no_write:
        common.write_results("query_overhead", results)


if __name__ == "__main__":
    main()
