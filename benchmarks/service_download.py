"""Dataset-file download (issue 11): a CSV and a Parquet file of N rows written by the dataset
service, against DuckDB's own ``COPY … TO`` of the same rows from the same file.

Setup (not timed): a DuckDB database file with ``enterprise`` (uscc, name, district, capital,
founded, updated) of N rows; a workspace (SQLite store) where a steward registers it, maps
``market.enterprise``, publishes it as csv and parquet and grants it to ``analyst1``.

Measured, each in a fresh subprocess (so that its peak RSS, ``ru_maxrss``, is its own):
- anchor: ``COPY (SELECT * FROM enterprise) TO 'x.csv' (HEADER)`` / ``(FORMAT parquet)`` on a DuckDB
  connection with the same threads and memory limit as the workspace's engine;
- govfabric: ``fabric.datasets.materialise(name, fmt)`` as ``analyst1`` — what
  ``GET /api/v1/datasets/{name}/download`` runs before it sends the file: the guarded read path
  (grants, masks), the streaming writer (Arrow batches → file), SHA-256 and SM3 digests, the
  file record and its audit event. The row count is checked.

Goals: ratio ≤ (report) and peak RSS ≤ 500 MB at 10M rows (``--rows 10000000``). A download is an
export: it is bounded by ``export_row_limit`` (default 100M), not by ``query_row_limit``.

    python benchmarks/service_download.py [--rows 1000000] [--rows 10000000] [--formats csv,parquet]
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

HERE = Path(__file__).parent


def create_data(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(f"""CREATE TABLE enterprise AS SELECT
        '913501' || lpad(i::VARCHAR, 11, '0') || 'X' AS uscc, '企业' || i AS name,
        (350100 + i % 13)::VARCHAR AS district, ((i % 100000) * 10.5)::DECIMAL(18, 2) AS capital,
        DATE '2000-01-01' + (i % 9000)::INTEGER AS founded,
        TIMESTAMP '2024-01-01' + to_seconds(i % 86400) AS updated
        FROM range({int(rows)}) t(i)""")  # noqa: S608 (a number)
    con.close()


def workspace(home: Path, data: Path) -> Any:
    fabric, steward = common.enterprise_workspace(home, data)
    steward.datasets.publish("market.enterprise", ["csv", "parquet"])
    steward.access.grant("analyst1", "market.enterprise", purpose="benchmark")
    return fabric


def child(argv: list[str]) -> None:
    """In a subprocess: one export, then its time and peak RSS as JSON on stdout."""
    import resource

    what, fmt = argv[0], argv[1]
    started = time.perf_counter()
    if what == "anchor":
        import duckdb

        data, out, threads, memory = argv[2], argv[3], argv[4], argv[5]
        con = duckdb.connect(data, read_only=True, config={"threads": threads, "memory_limit": memory})
        base_mb, t0 = _rss_now_mb(), time.perf_counter()
        opts = "(HEADER)" if fmt == "csv" else "(FORMAT parquet)"
        con.execute(f"COPY (SELECT * FROM enterprise) TO '{out}' {opts}")  # noqa: S608 (our temp path)
        rows = con.execute("SELECT count(*) FROM enterprise").fetchone()[0]
        path = out
    else:
        from govfabric.fabric import connect

        fabric = connect(argv[2], "analyst1")
        fabric.queries.engine()
        base_mb, t0 = _rss_now_mb(), time.perf_counter()
        f = fabric.datasets.materialise("market.enterprise", fmt)
        rows, path = f.rows, f.path
        fabric.close()
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": seconds, "total_s": time.perf_counter() - started, "rss_mb": rss_mb,
                      "rss_before_mb": base_mb, "rows": rows, "size": os.path.getsize(path)}))


def _rss_now_mb() -> float:
    """The process's resident set now (after imports and connecting), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get(
                             "PYTHONPATH", "")])})
    if out.returncode != 0:
        raise SystemExit(f"export failed: {argv}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--formats", default="csv,parquet")
    args = ap.parse_args()
    results: dict[str, Any] = {"rows": args.rows, "load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="gf-download-") as tmp_:
        tmp = Path(tmp_)
        data = tmp / "data.duckdb"
        t0 = time.perf_counter()
        create_data(data, args.rows)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
        fabric = workspace(tmp / "ws", data)
        settings = fabric.settings
        home = str(settings.home)
        fabric.close()
        rows = []
        for fmt in args.formats.split(","):
            anchor = run_child("anchor", fmt, str(data), str(tmp / f"anchor.{fmt}"), str(settings.duckdb_threads),
                               settings.duckdb_memory_limit)
            gf = run_child("govfabric", fmt, home)
            assert gf["rows"] == args.rows == anchor["rows"], (gf, anchor)
            results[fmt] = {"anchor": anchor, "govfabric": gf, "ratio": common.ratio(gf["s"], anchor["s"])}
            rows.append([fmt, anchor["s"], gf["s"], results[fmt]["ratio"], round(anchor["rss_mb"]),
                         round(gf["rss_mb"]), round(gf["rss_before_mb"]), gf["size"] // 1_000_000])
            (tmp / f"anchor.{fmt}").unlink()
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    common.print_table(["format", "anchor s", "govfabric s", "ratio", "anchor peak RSS MB", "govfabric peak RSS MB",
                        "govfabric RSS before MB", "file MB"],
                       rows, title=f"download of {args.rows:,} rows (goal: peak RSS <= 500 MB)")
    common.write_results("service_download", results)


if __name__ == "__main__":
    main()
