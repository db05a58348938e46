"""Quality suite push-down: govfabric's GX-on-DuckDB vs hand-written DuckDB SQL vs GX's pandas path.

Suite: uniqueness + not-null + fluctuation (row count) + format (credit-code check characters).
Default 2M rows (``--rows 10000000`` for the issue's size); pandas runs on ``--pandas-rows`` and is
scaled linearly to the full size (said so in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--pandas-rows", type=int, default=200_000)
    args = ap.parse_args()
    import duckdb

    from govfabric.fabric import init_workspace
    from govfabric.governance.quality import gx, sqlchecks
    from govfabric.governance.quality.service import QualityService

    tmp = Path(tempfile.mkdtemp(prefix="gf-qbench-"))
    db = tmp / "data.duckdb"
    con = duckdb.connect(str(db))
    # credit codes: 17 fixed characters + a check character (valid for 1 in 31 rows) — a realistic dirty column
    con.execute(f"""CREATE TABLE t AS SELECT range AS id,
        CASE WHEN range % 50 = 0 THEN NULL ELSE 'name' || range END AS name,
        '91110105MA' || lpad(CAST(range % 10000000 AS VARCHAR), 7, '0') ||
        substr('0123456789ABCDEFGHJKLMNPQRTUWXY', CAST(range % 31 AS INT) + 1, 1) AS code
        FROM range({int(args.rows)})""")  # noqa: S608 (int)
    con.close()
    fabric = init_workspace(tmp / "ws")
    fabric.catalog.add_source("bench", f"duckdb:///{db}")
    fabric.catalog.harvest("bench")
    q = QualityService(fabric)
    asset = "bench.main.t"
    for r in [{"kind": "unique", "columns": ["id"]}, {"kind": "not_null", "column": "name", "min_ratio": 0.9},
              {"kind": "fluctuation", "metric": "row_count", "max_change": 0.1},
              {"kind": "format", "column": "code", "standard": "uscc"}]:
        q.add_rule(asset, r)
    gx.gx()
    q.run(asset, docs=False, work_orders=False)  # warm-up; establishes fluctuation history
    t0 = time.perf_counter()
    run = q.run(asset, docs=False, work_orders=False)
    gf_s = time.perf_counter() - t0
    counts = {x.rule_name: x.unexpected_count for x in q.results(run.id)}

    con = duckdb.connect(str(db), read_only=True)
    bad = sqlchecks.invalid("uscc", "code").sql("duckdb")
    t0 = time.perf_counter()
    con.execute(f"""SELECT COUNT(*) - COUNT(DISTINCT id), COUNT(*) - COUNT(name), COUNT(*),
        COUNT(*) FILTER (WHERE code IS NOT NULL AND {bad}) FROM t""").fetchall()  # noqa: S608 (generated)
    sql_s = time.perf_counter() - t0

    df = con.execute(f"SELECT * FROM t LIMIT {int(args.pandas_rows)}").df()  # noqa: S608 (int)
    con.close()
    g = gx.gx()
    ctx = g.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch = ctx.data_sources.add_pandas("p").add_dataframe_asset("df").add_batch_definition_whole_dataframe("all")
    from govfabric.identifiers import USCC_ALPHABET

    suite = ctx.suites.add(g.ExpectationSuite("s", expectations=[
        g.expectations.ExpectColumnValuesToBeUnique(column="id"),
        g.expectations.ExpectColumnValuesToNotBeNull(column="name", mostly=0.9),
        g.expectations.ExpectTableRowCountToBeBetween(min_value=0),
        g.expectations.ExpectColumnValuesToMatchRegex(column="code", regex=sqlchecks.USCC_RE)]))
    vd = ctx.validation_definitions.add(g.ValidationDefinition(name="v", data=batch, suite=suite))
    t0 = time.perf_counter()
    vd.run(batch_parameters={"dataframe": df})
    # the check characters have no pandas expectation: computed with pandas string ops, as a user would
    from govfabric.identifiers import USCC_WEIGHTS

    codes = df["code"].dropna()
    total = sum(codes.str[i].map(USCC_ALPHABET.find) * w for i, w in enumerate(USCC_WEIGHTS))
    _ = (codes.str[17] != total.map(lambda s: USCC_ALPHABET[(31 - s % 31) % 31])).sum()
    pandas_s = (time.perf_counter() - t0) * args.rows / len(df)
    out = {"rows": args.rows, "govfabric_gx_duckdb_s": round(gf_s, 3), "hand_sql_duckdb_s": round(sql_s, 3),
           "gx_pandas_s_scaled": round(pandas_s, 3), "pandas_rows_measured": len(df),
           "ratio_vs_hand_sql": round(gf_s / sql_s, 2), "speedup_vs_pandas": round(pandas_s / gf_s, 1),
           "unexpected": counts}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    print(f"govfabric GX push-down {gf_s:.2f}s vs hand SQL {sql_s:.2f}s = {gf_s / sql_s:.2f}x (goal <= 1.5x); "
          f"vs GX pandas (scaled from {len(df)} rows) {pandas_s:.2f}s = {pandas_s / gf_s:.1f}x faster (goal >= 10x)")
    Path(__file__).parent.joinpath("results").mkdir(exist_ok=True)
    Path(__file__).parent.joinpath("results", "quality_pushdown.json").write_text(json.dumps(out, indent=2))
    fabric.close()


if __name__ == "__main__":
    main()
