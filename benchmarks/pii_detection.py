"""PII detection on a large table (issue 4: 1M rows): it samples, so its time does not grow with the table.

Setup (not timed): a DuckDB database file with one table of N rows — resident IDs (one column
named ``sfzh``, one called ``c7``), mobiles, Chinese names, addresses, Luhn-valid bank cards,
e-mails, credit codes, plus non-PII columns (amount, status code, date, free text) — registered
as a source and harvested into a fresh workspace.

Measured in the same run, for each size:
  anchor  a full read of the same columns through the same engine (what a detector that looked
          at every value would at least pay);
  scan    ``SecurityService.scan(asset, sample=S)`` — sample, classify every column, store the
          classifications and audit them (median of --repeat runs).
Reported: both times, scan / anchor, scan time at the largest size / at the smallest (≈ 1 means
independent of table size), and whether every column got its expected class.

    python benchmarks/pii_detection.py [--sizes 100000,1000000] [--sample 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table, ratio, write_results

POOL = 20_000
EXPECTED = {"rid": None, "sfzh": "resident_id", "c7": "resident_id", "sjhm": "mobile", "xm": "name",
            "dz": "address", "c9": "bank_card", "email": "email", "tyshxydm": "uscc", "amount": None,
            "status": None, "rq": None, "note": None}


def _pool(seed: int = 42) -> dict[str, list[Any]]:
    from govfabric.demo.names import given_name, surname
    from govfabric.identifiers import generate_resident_id, generate_uscc, is_luhn_valid

    rng = random.Random(seed)
    divisions = ("110101", "110105", "310115", "440305", "510107", "330106")
    streets = ("建国路", "中山路", "人民大街", "解放路", "长安街", "世纪大道")
    cities = ("北京市朝阳区", "上海市浦东新区", "广东省深圳市南山区", "四川省成都市武侯区", "浙江省杭州市西湖区")
    out: dict[str, list[Any]] = {k: [] for k in ("sfzh", "sjhm", "xm", "dz", "c9", "email", "tyshxydm", "note")}
    for i in range(POOL):
        sex = "MF"[i % 2]
        out["sfzh"].append(generate_resident_id(rng, rng.choice(divisions),
                                                date(1950 + rng.randrange(60), 1 + rng.randrange(12),
                                                     1 + rng.randrange(28)), sex))
        out["sjhm"].append(f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}")
        out["xm"].append(surname(rng) + given_name(rng, sex))
        out["dz"].append(f"{rng.choice(cities)}{rng.choice(streets)}{rng.randrange(1, 999)}号")
        body = "62" + "".join(rng.choice("0123456789") for _ in range(13))
        out["c9"].append(next(body + d for d in "0123456789" if is_luhn_valid(body + d)))
        out["email"].append(f"user{i}@example.gov.cn")
        out["tyshxydm"].append(generate_uscc(rng, rng.choice(divisions)))
        out["note"].append(rng.choice(("按期缴纳", "材料齐全", "已核验", "待补正", "无")))
    return out


def make_table(path: Path, rows: int, pool: dict[str, list[Any]]) -> None:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect(str(path))
    con.register("pool", pa.table({"i": list(range(POOL)), **pool}))
    con.execute(f"""
        CREATE TABLE t_people AS
        SELECT r.range AS rid, p.sfzh, q.sfzh AS c7, p.sjhm, p.xm, p.dz, p.c9, p.email, p.tyshxydm,
               round(random() * 10000, 2) AS amount, (r.range % 4)::VARCHAR AS status,
               DATE '2020-01-01' + (r.range % 1500)::INTEGER AS rq, p.note
        FROM range({rows}) r
        JOIN pool p ON p.i = r.range % {POOL}
        JOIN pool q ON q.i = (r.range * 7919) % {POOL}
        ORDER BY r.range
    """)  # noqa: S608 (sizes are integers we computed)
    con.close()


def bench_size(rows: int, sample: int, repeat: int, pool: dict[str, list[Any]], tmp: Path) -> dict[str, Any]:
    from govfabric.fabric import init_workspace
    from govfabric.governance.security.sample import sample_sql
    from govfabric.governance.security.service import SecurityService
    from govfabric.virtualization.engines import Binding

    db = tmp / f"people_{rows}.duckdb"
    t0 = time.perf_counter()
    make_table(db, rows, pool)
    gen_s = time.perf_counter() - t0
    admin = init_workspace(tmp / f"ws_{rows}")
    admin.add_principal("steward1", ["steward"], department="公安局")
    steward = admin.as_user("steward1")
    steward.catalog.add_source("people", f"duckdb:///{db}")
    steward.catalog.harvest("people")
    qn = "people.main.t_people"
    sec = SecurityService(steward)
    sec.scan(qn, sample=sample, mask=False)  # warm: engine opened, extensions loaded

    scan_s = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = sec.scan(qn, sample=sample, mask=False)
        scan_s.append(time.perf_counter() - t0)

    asset = steward.catalog.asset(qn)
    src = steward.catalog.source("people")
    eng = steward.queries.engine("duckdb")
    binding = Binding(src, asset)
    eng.prepare([binding])
    full_sql = sample_sql(eng.physical_ref(binding), [c.name for c in asset.columns], rows).replace(
        f" LIMIT {rows}", "")
    anchor_s = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = sum(b.num_rows for b in eng.stream(full_sql, timeout_s=600, row_limit=rows + 1))
        anchor_s.append(time.perf_counter() - t0)
    assert n == rows, (n, rows)
    got = {r.column_name: r.pii_class for r in found}
    admin.close()
    steward.close()
    return {"rows": rows, "sample": sample, "generate_s": round(gen_s, 2),
            "scan_s": round(statistics.median(scan_s), 4), "scan_runs_s": [round(x, 4) for x in scan_s],
            "full_read_s": round(statistics.median(anchor_s), 4),
            "scan_vs_full_read": ratio(statistics.median(scan_s), statistics.median(anchor_s)),
            "classified": got, "all_correct": got == EXPECTED,
            "evidence_c7": next(r.evidence for r in found if r.column_name == "c7")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    pool = _pool()
    results = []
    with tempfile.TemporaryDirectory(prefix="gf_pii_") as tmp:
        for n in sizes:
            results.append(bench_size(n, args.sample, args.repeat, pool, Path(tmp)))
    print_table(["rows", "sample", "scan (s)", "full read (s)", "scan / full read", "all classes right"],
                [[r["rows"], r["sample"], r["scan_s"], r["full_read_s"], r["scan_vs_full_read"], r["all_correct"]]
                 for r in results], "PII detection: sampled scan vs a full read (anchor)")
    growth = ratio(results[-1]["scan_s"], results[0]["scan_s"]) if len(results) > 1 else None
    data_growth = results[-1]["rows"] / results[0]["rows"] if len(results) > 1 else None
    if growth is not None:
        print(f"scan time at {results[-1]['rows']:,} rows / at {results[0]['rows']:,} rows = {growth} "
              f"(table grew {data_growth:g}×)")
    for r in results:
        wrong = {c: v for c, v in r["classified"].items() if EXPECTED.get(c) != v}
        if wrong:
            print(f"  {r['rows']:,} rows: unexpected classes {wrong}")
    path = write_results("pii_detection", {"sizes": results, "scan_growth": growth, "table_growth": data_growth,
                                           "expected": EXPECTED})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
