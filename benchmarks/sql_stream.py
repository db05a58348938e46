"""`govfabric sql "SELECT …" -o out.parquet` and `--format csv` (to a file and to stdout) on N rows
(issue 15, item 6), against DuckDB's own ``COPY … TO`` of the same rows from the same file.

Setup (not timed): a DuckDB database file with ``enterprise`` (uscc, name, district, capital,
founded, updated) of N rows (as ``service_download.py`` makes it); a workspace (SQLite store) where
a steward registers it, maps ``market.enterprise`` and grants it to ``analyst1``.

Measured, each run a fresh process whose peak RSS (``ru_maxrss``, from ``os.wait4``) is its own:
- anchor: ``python -c`` connecting DuckDB (same threads and memory limit as the workspace's engine)
  and running ``COPY (SELECT * FROM enterprise) TO … (FORMAT parquet)`` / ``(HEADER)``;
- govfabric: the command line itself, ``govfabric --home WS --as analyst1 sql "SELECT * FROM
  market.enterprise" --format parquet|csv [-o FILE]`` (stdout redirected to a file for ``csv-stdout``):
  start-up, the guarded read path, the streaming writer and the query's record. Rows are checked.

Goal: peak RSS ≤ 500 MB at 10M rows (``--rows 10000000``); time is reported against the anchor.
An export is bounded by ``export_row_limit`` (default 100M), not by ``query_row_limit`` (1M).

    python benchmarks/sql_stream.py [--rows 1000000] [--formats parquet,csv,csv-stdout] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common
from service_download import create_data

HERE = Path(__file__).parent
QUERY = "SELECT * FROM market.enterprise"
ANCHOR = """
import sys, duckdb
data, out, fmt, threads, memory = sys.argv[1:6]
con = duckdb.connect(data, read_only=True, config={"threads": threads, "memory_limit": memory})
opts = "(HEADER)" if fmt == "csv" else "(FORMAT parquet)"
con.execute(f"COPY (SELECT * FROM enterprise) TO '{out}' {opts}")
"""


def workspace(home: Path, data: Path) -> Any:
    fabric, steward = common.enterprise_workspace(home, data)
    steward.access.grant("analyst1", "market.enterprise", purpose="benchmark")
    return fabric


def measure(argv: list[str], stdout: Path | None = None) -> dict[str, Any]:
    """Run one process; its wall seconds, CPU seconds and peak RSS (MB), from the kernel's accounting."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    with open(stdout or os.devnull, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {argv}\n{err[-3000:]}")
    return {"s": round(seconds, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "rss_mb": round(usage.ru_maxrss / 1024, 1)}


def child(argv: list[str]) -> None:
    """In a subprocess, so that this process stays small (a child forked from a big parent starts with
    the parent's peak RSS in its ``ru_maxrss``): ``setup TMP ROWS`` or ``count PATH FMT``."""
    if argv[0] == "setup":
        tmp, rows = Path(argv[1]), int(argv[2])
        create_data(tmp / "data.duckdb", rows)
        fabric = workspace(tmp / "ws", tmp / "data.duckdb")
        s = fabric.settings
        print(json.dumps({"home": str(s.home), "threads": s.duckdb_threads, "memory": s.duckdb_memory_limit}))
        fabric.close()
    else:
        import duckdb

        read = "read_parquet" if argv[2] == "parquet" else "read_csv"
        print(duckdb.sql(f"SELECT count(*) FROM {read}('{argv[1]}')").fetchone()[0])  # type: ignore[index]  # noqa: S608


def run_child(*argv: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"failed: {argv}\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def count_rows(path: Path, fmt: str) -> int:
    return int(run_child("count", str(path), fmt))


def run_format(fmt: str, tmp: Path, data: Path, home: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The anchor and the command line for one format; output files removed after their rows are counted."""
    kind = "parquet" if fmt == "parquet" else "csv"
    anchor_out = tmp / f"anchor.{kind}"
    anchor = measure([sys.executable, "-c", ANCHOR, str(data), str(anchor_out), kind,
                      str(settings["threads"]), settings["memory"]])
    cli = [sys.executable, "-m", "govfabric.cli.main", "--home", str(home), "--as", "analyst1", "sql", QUERY,
           "--format", kind]
    if fmt == "csv-stdout":
        out = tmp / "stdout.csv"
        gf = measure(cli, stdout=out)
    else:
        out = home / "exports" / f"gf.{kind}"  # under the export root
        gf = measure([*cli, "-o", out.name])
    gf["rows"], anchor["rows"] = count_rows(out, kind), count_rows(anchor_out, kind)
    gf["size_mb"] = round(out.stat().st_size / 1e6, 1)
    out.unlink()
    anchor_out.unlink()
    return {"anchor": anchor, "govfabric": gf, "ratio": common.ratio(gf["s"], anchor["s"]),
            "cpu_ratio": common.ratio(gf["cpu_s"], anchor["cpu_s"])}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="parquet,csv,csv-stdout")
    ap.add_argument("--smoke", action="store_true", help="1,000 rows: checks the benchmark runs; no figures kept")
    args = ap.parse_args()
    rows_n = 1000 if args.smoke else args.rows
    results: dict[str, Any] = {"rows": rows_n, "load_before": [round(x, 2) for x in os.getloadavg()]}
    table = []
    with tempfile.TemporaryDirectory(prefix="gf-sqlstream-") as tmp_:
        tmp = Path(tmp_)
        data = tmp / "data.duckdb"
        t0 = time.perf_counter()
        settings = json.loads(run_child("setup", str(tmp), str(rows_n)))
        home = Path(settings["home"])
        print(f"generated {rows_n:,} rows and the workspace in {time.perf_counter() - t0:.1f} s")
        for fmt in args.formats.split(","):
            r = run_format(fmt, tmp, data, home, settings)
            assert r["govfabric"]["rows"] == r["anchor"]["rows"] == rows_n, r
            results[fmt] = r
            a, g = r["anchor"], r["govfabric"]
            table.append([fmt, a["s"], g["s"], r["ratio"], a["cpu_s"], g["cpu_s"], a["rss_mb"], g["rss_mb"],
                          g["size_mb"]])
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    common.print_table(["format", "anchor s", "govfabric s", "ratio", "anchor cpu s", "govfabric cpu s",
                        "anchor peak RSS MB", "govfabric peak RSS MB", "file MB"],
                       table, title=f"govfabric sql export of {rows_n:,} rows (goal: peak RSS <= 500 MB)")
    if not args.smoke:
        common.write_results("sql_stream", results)


if __name__ == "__main__":
    main()
