"""Quality suite push-down: govfabric's GX-on-DuckDB vs hand-written DuckDB SQL vs GX's pandas path.

Suite: uniqueness + not-null + fluctuation (row count) + format (credit-code check characters,
GB 32100), on a DuckDB file of ``--rows`` rows (default 10M, the issue's size). All three are
measured in the same run, on the same file:

* **govfabric**: ``QualityService.run`` — one GX suite pushed down as SQL (after a warm-up run that
  also establishes the fluctuation history), recording results; Data Docs off.
* **hand SQL** (anchor for ≤ 1.0×): the same four checks as one hand-written DuckDB query.

govfabric and hand SQL alternate ``--repeat`` times (medians); CPU time of this process (all of
DuckDB's threads) is reported beside wall time, since on a shared machine it is the steadier ratio.
* **GX pandas** (goal: govfabric ≥ 10× faster): what a GX user runs on the same data — the table read
  into a DataFrame (timed and counted in the total: the pandas path cannot validate a table it has not
  read; the validation-only ratio is printed beside it) and validated by GX's pandas engine; the check
  characters, for which GX has no expectation, computed with vectorised pandas string operations as a
  user would. Run once (it is the slow side), wall and CPU time. Measured on the full table unless
  ``--pandas-rows`` caps it (then scaled linearly, and the output says so).

    python benchmarks/quality_pushdown.py [--rows 10000000] [--pandas-rows N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import print_table, ratio, write_results

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

RULES = [{"kind": "unique", "columns": ["id"]}, {"kind": "not_null", "column": "name", "min_ratio": 0.9},
         {"kind": "fluctuation", "metric": "row_count", "max_change": 0.1},
         {"kind": "format", "column": "code", "standard": "uscc"}]


def make_table(path: Path, rows: int) -> None:
    """Credit codes of the MA style with a cycling check character (valid about 1 in 340), 2% names missing."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(f"""CREATE TABLE t AS SELECT range AS id,
        CASE WHEN range % 50 = 0 THEN NULL ELSE 'name' || range END AS name,
        '91110105MA' || lpad(CAST(range % 10000000 AS VARCHAR), 7, '0') ||
        substr('0123456789ABCDEFGHJKLMNPQRTUWXY', CAST(range % 31 AS INT) + 1, 1) AS code
        FROM range({int(rows)})""")  # noqa: S608 (int)
    con.close()


def run_both(home: Path, db: Path, threads: int, repeat: int
             ) -> tuple[dict[str, float], dict[str, int | None], tuple]:
    """govfabric and hand SQL alternating: median wall and CPU seconds of each, and their counts."""
    fabric, q = setup_govfabric(home, db)
    times: dict[str, list[float]] = {"gf": [], "gf_cpu": [], "sql": [], "sql_cpu": []}
    run = None
    sql_row: tuple = ()
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        run = q.run("bench.main.t", docs=False, work_orders=False)
        times["gf"].append(time.perf_counter() - w)
        times["gf_cpu"].append(time.process_time() - c)
        w, c = time.perf_counter(), time.process_time()
        _, sql_row = run_hand_sql(db, threads)
        times["sql"].append(time.perf_counter() - w)
        times["sql_cpu"].append(time.process_time() - c)
    assert run is not None
    counts = {x.rule_name: x.unexpected_count for x in q.results(run.id)}
    fabric.close()
    return {k: statistics.median(v) for k, v in times.items()}, counts, sql_row


def setup_govfabric(home: Path, db: Path) -> tuple:
    from govfabric.fabric import init_workspace
    from govfabric.governance.quality import gx
    from govfabric.governance.quality.service import QualityService

    fabric = init_workspace(home)
    fabric.catalog.add_source("bench", f"duckdb:///{db}")
    fabric.catalog.harvest("bench")
    q = QualityService(fabric)
    for r in RULES:
        q.add_rule("bench.main.t", r)
    gx.gx()
    q.run("bench.main.t", docs=False, work_orders=False)  # warm-up; establishes the fluctuation history
    return fabric, q


def run_hand_sql(db: Path, threads: int) -> tuple[float, tuple]:
    import duckdb

    from govfabric.governance.quality import sqlchecks

    con = duckdb.connect(str(db), read_only=True, config={"threads": threads})
    bad = sqlchecks.invalid("uscc", "code").sql("duckdb")
    t0 = time.perf_counter()
    row = con.execute(f"""SELECT COUNT(*) - COUNT(DISTINCT id), COUNT(*) - COUNT(name), COUNT(*),
        COUNT(*) FILTER (WHERE code IS NOT NULL AND {bad}) FROM t""").fetchone()  # noqa: S608 (generated)
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, tuple(row or ())


def run_gx_pandas(db: Path, rows: int) -> tuple[float, float, int, float, float]:
    """(seconds to pull into pandas, seconds to validate, rows, CPU seconds of each) — GX's pandas engine."""
    import duckdb
    import numpy as np

    from govfabric.governance.quality import gx, sqlchecks
    from govfabric.identifiers import USCC_ALPHABET, USCC_WEIGHTS

    con = duckdb.connect(str(db), read_only=True)
    t0, c0 = time.perf_counter(), time.process_time()
    df = con.execute(f"SELECT * FROM t LIMIT {int(rows)}").df()  # noqa: S608 (int)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    con.close()
    g = gx.gx()
    ctx = g.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch = ctx.data_sources.add_pandas("p").add_dataframe_asset("df").add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(g.ExpectationSuite("s", expectations=[
        g.expectations.ExpectColumnValuesToBeUnique(column="id"),
        g.expectations.ExpectColumnValuesToNotBeNull(column="name", mostly=0.9),
        g.expectations.ExpectTableRowCountToBeBetween(min_value=0),
        g.expectations.ExpectColumnValuesToMatchRegex(column="code", regex=sqlchecks.USCC_RE)]))
    vd = ctx.validation_definitions.add(g.ValidationDefinition(name="v", data=batch, suite=suite))
    t0, c0 = time.perf_counter(), time.process_time()
    vd.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    codes = df["code"].dropna()
    lookup = {c: i for i, c in enumerate(USCC_ALPHABET)}
    total = np.zeros(len(codes), dtype=np.int64)
    for i, w in enumerate(USCC_WEIGHTS):
        total += codes.str[i].map(lookup).fillna(-1000).to_numpy(dtype=np.int64) * w
    check = np.array(list(USCC_ALPHABET))[(31 - total % 31) % 31]
    _ = int((codes.str[17].to_numpy() != check).sum())
    return load_s, time.perf_counter() - t0, len(df), load_cpu, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pandas-rows", type=int, default=None, help="cap the pandas path (scaled linearly)")
    ap.add_argument("--repeat", type=int, default=3, help="govfabric / hand SQL alternations (medians)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gf-qbench-"))
    try:
        db = tmp / "data.duckdb"
        make_table(db, args.rows)
        from govfabric.config import load_settings

        threads = load_settings(tmp / "ws").duckdb_threads
        med, counts, sql_row = run_both(tmp / "ws", db, threads, args.repeat)
        gf_s, sql_s = med["gf"], med["sql"]
        load_s, validate_s, measured, load_cpu, validate_cpu = run_gx_pandas(db, args.pandas_rows or args.rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    scale = args.rows / measured
    pandas_s = (load_s + validate_s) * scale
    pandas_cpu = (load_cpu + validate_cpu) * scale
    same = (counts.get("unique_id"), counts.get("not_null_name"), counts.get("format_uscc_code")) == \
        (sql_row[0], sql_row[1], sql_row[3])
    print_table(["path", "seconds", "vs hand SQL", "govfabric faster by"], [
        ["govfabric GX push-down (DuckDB)", gf_s, ratio(gf_s, sql_s), 1.0],
        ["hand-written DuckDB SQL (anchor)", sql_s, 1.0, ratio(sql_s, gf_s)],
        [f"GX pandas: pull{' (scaled)' if scale > 1 else ''}", load_s * scale, ratio(load_s * scale, sql_s), "-"],
        [f"GX pandas: validate{' (scaled)' if scale > 1 else ''}", validate_s * scale,
         ratio(validate_s * scale, sql_s), ratio(validate_s * scale, gf_s)],
        ["GX pandas: total", pandas_s, ratio(pandas_s, sql_s), ratio(pandas_s, gf_s)],
    ], f"Quality suite on {args.rows:,} rows (DuckDB threads {threads}, load {os.getloadavg()[0]:.1f})")
    print(f"\ngovfabric vs hand SQL: x{ratio(gf_s, sql_s)} wall, x{ratio(med['gf_cpu'], med['sql_cpu'])} CPU "
          f"(goal <= 1.0); faster than GX pandas by "
          f"x{ratio(pandas_s, gf_s)} incl. the pull, x{ratio(validate_s * scale, gf_s)} validation only "
          f"(goal >= 10); CPU: govfabric {med['gf_cpu']:.2f} s, hand SQL {med['sql_cpu']:.2f} s, GX pandas "
          f"{pandas_cpu:.2f} s (pull {load_cpu * scale:.2f} s): x{ratio(pandas_cpu, med['gf_cpu'])}; "
          f"same counts as hand SQL: {same}")
    write_results("quality_pushdown", {
        "rows": args.rows, "duckdb_threads": threads, "load_avg_1m": round(os.getloadavg()[0], 1),
        "govfabric_gx_duckdb_s": round(gf_s, 3), "hand_sql_duckdb_s": round(sql_s, 3), "repeat": args.repeat,
        "govfabric_cpu_s": round(med["gf_cpu"], 3), "hand_sql_cpu_s": round(med["sql_cpu"], 3),
        "ratio_vs_hand_sql_cpu": ratio(med["gf_cpu"], med["sql_cpu"]),
        "gx_pandas_pull_s": round(load_s * scale, 3), "gx_pandas_validate_s": round(validate_s * scale, 3),
        "gx_pandas_total_s": round(pandas_s, 3), "gx_pandas_pull_cpu_s": round(load_cpu * scale, 3),
        "gx_pandas_validate_cpu_s": round(validate_cpu * scale, 3),
        "speedup_vs_pandas_cpu": ratio(pandas_cpu, med["gf_cpu"]),
        "pandas_rows_measured": measured, "pandas_scaled": scale > 1,
        "ratio_vs_hand_sql": ratio(gf_s, sql_s), "speedup_vs_pandas_total": ratio(pandas_s, gf_s),
        "speedup_vs_pandas_validate": ratio(validate_s * scale, gf_s), "unexpected": counts,
        "same_counts_as_hand_sql": same})


if __name__ == "__main__":
    main()
