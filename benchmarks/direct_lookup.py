"""Point lookup by ``uscc`` on an indexed PostgreSQL table: DuckDB vs the direct engine (issue 11, item 4).

Builds a ``rows``-row table in a fresh database on ``GOVFABRIC_TEST_PG_URL`` (or ``--pg``), a
workspace with a virtual table over it (a mobile mask on ``phone``, a row filter), then times
``fabric.sql("SELECT name, district, capital, phone FROM market.ent WHERE uscc = '…'")`` as the
analyst, ``calls`` times per engine, a different key each call (so each call plans afresh: the
plan cache is keyed by the SQL text) and the same key each call (a cached plan). The anchor is
raw psycopg running the same SELECT on one open connection, no governance.

    python benchmarks/direct_lookup.py [--rows 1000000] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql as psql

from govfabric.fabric import init_workspace

DDL = """
CREATE TABLE ent (uscc text PRIMARY KEY, name text, district text, capital numeric(18, 2), phone text);
INSERT INTO ent SELECT '9135' || lpad(i::text, 14, '0'), '企业' || i, (350100 + i % 10)::text,
  (i % 100000) * 1.25, '139' || lpad((i % 100000000)::text, 8, '0') FROM generate_series(1, %s) AS i;
ANALYZE ent;
"""


def key(i: int) -> str:
    return "9135" + str(i).rjust(14, "0")


def median_ms(fn: Callable[[int], object], calls: int, rows: int) -> float:
    rng = random.Random(7)
    for _ in range(5):
        fn(rng.randrange(1, rows + 1))  # warm: pools, attach, caches
    times = []
    for _ in range(calls):
        i = rng.randrange(1, rows + 1)
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=os.environ.get("GOVFABRIC_TEST_PG_URL"))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    if not args.pg:
        raise SystemExit("set GOVFABRIC_TEST_PG_URL or pass --pg")
    db = f"gf_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as con:
        con.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(db)))
    url = f"{args.pg.rpartition('/')[0]}/{db}"
    try:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(DDL.replace("%s", str(int(args.rows))))
        with tempfile.TemporaryDirectory() as tmp:
            f = init_workspace(Path(tmp) / "ws")
            try:
                run(f, url, args.rows, args.calls)
            finally:
                f.close()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as con:
            con.execute(psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(db)))


def run(f: object, url: str, rows: int, calls: int) -> None:
    f.add_principal("analyst1", ["analyst"])  # type: ignore[attr-defined]
    f.catalog.add_source("pgb", url)  # type: ignore[attr-defined]
    f.catalog.harvest("pgb")  # type: ignore[attr-defined]
    f.virtual.create_table("market.ent", "pgb.public.ent")  # type: ignore[attr-defined]
    f.access.set_mask("market.ent", "phone", "mobile")  # type: ignore[attr-defined]
    f.access.grant("analyst1", "market.ent", row_filter="district <> '0'")  # type: ignore[attr-defined]
    analyst = f.as_user("analyst1")  # type: ignore[attr-defined]
    q = "SELECT name, district, capital, phone FROM market.ent WHERE uscc = '{}'"
    raw = psycopg.connect(url, autocommit=True)
    anchor = median_ms(lambda i: raw.execute(
        "SELECT name, district, capital, phone FROM ent WHERE uscc = %s", (key(i),)).fetchall(), calls, rows)
    raw.close()
    print(f"rows={rows:,} calls={calls} (median ms)")
    print(f"  anchor: raw psycopg, same SELECT      {anchor:8.2f}")
    for engine in ("duckdb", "direct"):
        fresh = median_ms(lambda i, e=engine: analyst.sql(q.format(key(i)), engine=e), calls, rows)
        same = median_ms(lambda i, e=engine: analyst.sql(q.format(key(1)), engine=e), calls, rows)
        print(f"  {engine:7s} new key each call (plans)  {fresh:8.2f}   same key (cached plan) {same:8.2f}")


if __name__ == "__main__":
    main()
