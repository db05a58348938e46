"""Harvest a large PostgreSQL database into the catalog (issue 2: 10,000 tables × 20 columns).

Setup (not timed): a fresh database with N tables of M columns each — varied types,
Chinese COMMENTs on every table and on some columns — spread over a few schemas,
created in a few big transactions.

Measured in the same run:
  anchor   a bare psycopg read of ``information_schema.tables`` + ``information_schema.columns``
           for those tables, fetching every row (what any harvester must at least read);
  harvest  ``fabric.catalog.harvest(source)`` into a fresh workspace (SQLite store; also a
           PostgreSQL store with ``--store pg|both``);
  again    a re-harvest with nothing changed;
  altered  a re-harvest after altering 100 tables (columns added, retyped, renamed, dropped).
The PII scan that runs after the harvest's commit (bounded sampling of up to
``pii_scan_max_assets`` added or changed tables) is timed apart; "harvest" is read + sync + commit.
Goal (issue 15): first harvest ≤ 10 s and ≤ 3× the anchor; into a PostgreSQL store ≤ 1.5× the SQLite store.
``cpu s`` is this process's CPU (on SQLite the store's work too); ``store server cpu s`` a PostgreSQL store's
backends' CPU, read from ``/proc`` when the server runs on this machine: their sum against the SQLite
store's ``cpu s`` compares the two stores whatever the load (wall clocks on a shared machine do not).

    python benchmarks/catalog_harvest.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
        [--tables 10000] [--columns 20] [--store sqlite|pg|both]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Timer, add_pg_url_argument, pg_database, print_table, process_cpu, ratio, write_results

GOAL_S, GOAL_RATIO, GOAL_PG, ALTERED = 10.0, 3.0, 1.5, 100
SCHEMAS = ("scjg", "gaj", "rsj", "swj", "zjj")  # 市场监管 公安 人社 税务 住建
TABLE_CN = ("企业登记信息", "营业执照信息", "人口基本信息", "社保缴费记录", "纳税申报明细", "房屋产权登记",
            "行政处罚案件", "个体工商户信息", "法人代表信息", "不动产抵押记录")
TABLE_PY = ("qydj", "yyzz", "rkjbxx", "sbjf", "nssb", "fwcq", "xzcf", "gtgsh", "fddbr", "bdcdy")
TYPES = ("integer", "bigint", "varchar(64)", "varchar(256)", "text", "numeric(18,2)", "date",
         "timestamp with time zone", "boolean", "char(18)", "double precision", "jsonb", "smallint", "uuid")
COL_CN = ("统一社会信用代码", "企业名称", "法定代表人", "注册资本", "成立日期", "登记机关", "经营范围",
          "身份证号", "姓名", "住址", "缴费金额", "纳税人识别号", "联系电话", "更新时间")
BATCH = 500  # tables per transaction


def load() -> str:
    """The machine's load average (it is shared: say how busy it was)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_source(url: str, tables: int, columns: int) -> list[tuple[str, str]]:
    """Create the tables (DDL generated here from fixed word lists, not user input); return their names."""
    import psycopg

    rng = random.Random(2)
    names: list[tuple[str, str]] = [(SCHEMAS[i % len(SCHEMAS)], f"t{i:05d}_{TABLE_PY[i % len(TABLE_PY)]}")
                                    for i in range(tables)]
    with psycopg.connect(url, autocommit=True) as conn:
        for s in SCHEMAS:
            conn.execute(f"CREATE SCHEMA {quote(s)}")
        for start in range(0, tables, BATCH):
            stmts = ["BEGIN"]
            for i in range(start, min(start + BATCH, tables)):
                schema, name = names[i]
                full = f"{quote(schema)}.{quote(name)}"
                cols = ["id bigint PRIMARY KEY"] + [
                    f"c{j:02d} {rng.choice(TYPES)}{' NOT NULL' * (j % 7 == 0)}" for j in range(1, columns)]
                stmts.append(f"CREATE TABLE {full} ({', '.join(cols)})")
                stmts.append(f"COMMENT ON TABLE {full} IS {literal(f'{TABLE_CN[i % len(TABLE_CN)]}{i}')}")
                for j in range(1, columns, 3):
                    stmts.append(f"COMMENT ON COLUMN {full}.c{j:02d} IS {literal(rng.choice(COL_CN))}")
            stmts.append("COMMIT")
            conn.execute(";\n".join(stmts))  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    return names


def alter_tables(url: str, names: list[tuple[str, str]], columns: int, round_: int) -> None:
    """Change 100 tables four ways — add a column, retype, rename or drop one — on a column
    chosen by ``round_`` so that each store's run alters afresh."""
    import psycopg

    step = max(1, len(names) // ALTERED)
    col = f"c{round_ % (columns - 1) + 1:02d}"
    stmts = ["BEGIN"]
    for k, (schema, name) in enumerate(names[::step][:ALTERED]):
        full = f"{quote(schema)}.{quote(name)}"
        stmts.append([f"ALTER TABLE {full} ADD COLUMN extra_r{round_} text",
                      f"ALTER TABLE {full} ALTER COLUMN {col} TYPE varchar({1000 + round_}) USING NULL",
                      f"ALTER TABLE {full} RENAME COLUMN {col} TO {col}_renamed",
                      f"ALTER TABLE {full} DROP COLUMN {col}"][k % 4])
    stmts.append("COMMIT")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(";\n".join(stmts))  # type: ignore[arg-type]


def anchor_read(url: str) -> tuple[float, int, int]:
    """Bare information_schema read of the benchmark's schemas, every row fetched."""
    import psycopg

    with Timer() as t, psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                    "WHERE table_schema = ANY(%s)", (list(SCHEMAS),))
        n_tables = len(cur.fetchall())
        cur.execute("SELECT table_schema, table_name, column_name, data_type, is_nullable, ordinal_position "
                    "FROM information_schema.columns WHERE table_schema = ANY(%s)", (list(SCHEMAS),))
        n_columns = len(cur.fetchall())
    return t.s, n_tables, n_columns


class ServerCPU:
    """CPU seconds of a PostgreSQL store's server processes (the backends of the store's connections, read
    from ``/proc`` when the server runs on this machine; else none): the store's work that ``cpu s`` leaves
    out. With ``cpu s`` it tells, whatever the load, what a quiet machine's wall clock would be at most."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.pids: set[int] = set()
        self.start: dict[int, float] = {}
        if engine.dialect.name == "postgresql":
            event.listen(engine, "checkout", lambda dbapi, *_: self.pids.add(dbapi.pgconn.backend_pid))

    @staticmethod
    def _of(pid: int) -> float | None:
        got = process_cpu(pid)
        return got[2] if got is not None else None

    def mark(self) -> None:
        self.start = {p: c for p in self.pids if (c := self._of(p)) is not None}

    def since(self) -> float | None:
        """Server CPU since :meth:`mark` (connections opened since count from their start)."""
        used = [(c - self.start.get(p, 0.0)) for p in self.pids if (c := self._of(p)) is not None]
        return round(sum(used), 2) if used else None


def run_store(label: str, store_url: str | None, source_url: str, names: list[tuple[str, str]],
              columns: int, home: Path, anchor_s: float, round_: int, impact: bool = False) -> list[dict[str, Any]]:
    import govfabric.catalog.service as catalog_service
    from govfabric.fabric import init_workspace

    after_commit = catalog_service.emit

    def timed_emit(event: Any) -> None:  # what runs after the harvest's commit: the PII scan
        t, c = time.perf_counter(), cpu()
        try:
            after_commit(event)
        finally:
            phases["scan"], phases["scan_cpu"] = time.perf_counter() - t, cpu() - c

    catalog_service.emit = timed_emit  # type: ignore[assignment]
    fabric = init_workspace(home, store_url=store_url)
    server = ServerCPU(fabric.store.engine)
    try:
        fabric.add_principal("steward1", ["steward"], department="大数据局")
        steward = fabric.as_user("steward1")
        steward.catalog.add_source("bench", source_url)
        phases: dict[str, float] = {}
        t0 = 0.0

        def progress(stage: str, i: int, n: int) -> None:
            if stage == "sync" and "read" not in phases:
                phases["read"] = time.perf_counter() - t0

        rows: list[dict[str, Any]] = []
        for step in ("first harvest", "re-harvest, unchanged", f"re-harvest, {ALTERED} altered"):
            if step.endswith("altered"):
                alter_tables(source_url, names, columns, round_)
            phases.clear()
            server.mark()
            t0, c0 = time.perf_counter(), cpu()
            report = steward.catalog.harvest("bench", progress=progress)
            total = time.perf_counter() - t0
            server_s = server.since()  # (the PII scan's store work included: it is small)
            read, scan = phases.get("read", total), phases.get("scan", 0.0)
            harvest = total - scan
            summary = report.summary()
            rows.append({"store": label, "step": step, "seconds": round(total, 2), "read_s": round(read, 2),
                         "sync_s": round(harvest - read, 2), "scan_s": round(scan, 2),
                         "harvest_s": round(harvest, 2), "vs_anchor": ratio(harvest, anchor_s),
                         "total_vs_anchor": ratio(total, anchor_s),
                         "cpu_s": round(cpu() - c0 - phases.get("scan_cpu", 0.0), 2),
                         "scan_cpu_s": round(phases.get("scan_cpu", 0.0), 2), "server_cpu_s": server_s,
                         "load": load().split()[0],
                         "added": summary["added"], "changed": summary["changed"],
                         "unchanged": summary["unchanged"]})
            print(f"  {label}: {step}: {total:.2f} s, of which PII scan {scan:.2f} s ({summary})", flush=True)
        assert rows[0]["added"] == len(names), rows[0]
        assert rows[1]["changed"] == 0 and rows[1]["added"] == 0, rows[1]
        assert rows[2]["changed"] == min(ALTERED, len(names)), rows[2]
        if impact:
            rows.extend(time_impact(label, steward, names))
        return rows
    finally:
        catalog_service.emit = after_commit
        fabric.close()


def time_impact(label: str, fabric: Any, names: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The lineage graph of the harvested workspace built from the store (as a new process would) and
    impact analyses on it: first and again, of a source table (reaches its catalog asset) and of one
    column of it."""
    from govfabric.governance.lineage import graph
    from govfabric.governance.lineage.service import LineageService

    svc = LineageService(fabric)
    schema, table = names[len(names) // 2 + 1]  # not one of the altered tables
    out = []
    graph.invalidate()
    steps: list[tuple[str, Any]] = [
        ("graph build", svc.graph),
        ("impact, table (first)", lambda: svc.impact(f"bench.{schema}.{table}")),
        ("impact, table (again)", lambda: svc.impact(f"bench.{schema}.{table}")),
        ("impact, column (first)", lambda: svc.impact(f"bench.{schema}.{table}", "c01")),
    ]
    for step, call in steps:
        t0, c0 = time.perf_counter(), cpu()
        call()
        wall, used = time.perf_counter() - t0, cpu() - c0
        print(f"  {label}: {step}: {wall:.3f} s, cpu {used:.3f} s", flush=True)
        out.append({"store": label, "step": step, "seconds": round(wall, 3), "cpu_s": round(used, 3),
                    "load": load().split()[0]})
    g = svc.graph()
    print(f"  {label}: graph of {len(g.ds_names):,} datasets, {len(g.col_of):,} columns", flush=True)
    return out


def cpu() -> float:
    """CPU seconds of this process (the harvest's Python and, on SQLite, the store's work): on a
    shared machine the wall clock is partly waiting for a core."""
    return time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=10_000)
    ap.add_argument("--columns", type=int, default=20)
    ap.add_argument("--store", choices=["sqlite", "pg", "both"], default="sqlite",
                    help="metadata store(s) to harvest into (pg/both need --pg-url)")
    ap.add_argument("--impact", action="store_true",
                    help="then time the lineage graph's build and impact analyses on the harvested workspace")
    add_pg_url_argument(ap)
    args = ap.parse_args()
    if not args.pg_url:
        print("catalog_harvest: no PostgreSQL server (--pg-url or $GOVFABRIC_BENCH_PG_URL); "
              "the harvest benchmark reads a PostgreSQL source, so there is nothing to run — skipped.")
        return

    with ExitStack() as stack:
        source_url = stack.enter_context(pg_database(args.pg_url, "gfbench_src"))
        print(f"load average (1/5/15 min) at the start: {load()}", flush=True)
        print(f"setup: creating {args.tables:,} tables × {args.columns} columns …", flush=True)
        with Timer() as setup:
            names = build_source(source_url, args.tables, args.columns)
        print(f"setup: {setup.s:.1f} s (not timed)", flush=True)
        anchors = [anchor_read(source_url) for _ in range(3)]
        anchor_s = min(a[0] for a in anchors)
        _, n_tables, n_columns = anchors[0]
        print(f"anchor: information_schema read of {n_tables:,} tables / {n_columns:,} columns: "
              f"{anchor_s:.2f} s (best of 3)", flush=True)

        rows: list[dict[str, Any]] = []
        stores = ["sqlite", "pg"] if args.store == "both" else [args.store]
        for round_, label in enumerate(stores):
            home = Path(tempfile.mkdtemp(prefix=f"gf-harvest-{label}-"))
            stack.callback(shutil.rmtree, home, True)
            store_url = None if label == "sqlite" else \
                stack.enter_context(pg_database(args.pg_url, "gfbench_store"))
            rows.extend(run_store(label, store_url, source_url, names, args.columns, home / "ws", anchor_s,
                                  round_, args.impact))
    impacts = [r for r in rows if "harvest_s" not in r]
    rows = [r for r in rows if "harvest_s" in r]
    if impacts:
        print_table(["store", "step", "s", "cpu s", "load 1 min"],
                    [[r["store"], r["step"], r["seconds"], r["cpu_s"], r["load"]] for r in impacts],
                    title="lineage graph and impact analysis on the harvested workspace")

    print_table(["store", "step", "harvest s", "read s", "sync s", "× anchor", "cpu s", "store server cpu s",
                 "then PII scan s", "scan cpu s", "total × anchor", "load 1 min", "added", "changed", "unchanged"],
                [[r["store"], r["step"], r["harvest_s"], r["read_s"], r["sync_s"], r["vs_anchor"], r["cpu_s"],
                  "" if r["server_cpu_s"] is None else r["server_cpu_s"], r["scan_s"], r["scan_cpu_s"],
                  r["total_vs_anchor"], r["load"], r["added"], r["changed"], r["unchanged"]]
                 for r in rows],
                title=f"catalog harvest of {args.tables:,} tables × {args.columns} columns "
                      f"(anchor: information_schema read {anchor_s:.2f} s)")
    firsts = [r for r in rows if r["step"] == "first harvest"]
    goals: dict[str, dict[str, bool]] = {
        r["store"]: {"le_10s": r["harvest_s"] <= GOAL_S, "le_3x_anchor": r["vs_anchor"] <= GOAL_RATIO}
        for r in firsts}
    by_store = {r["store"]: r["harvest_s"] for r in firsts}
    if "sqlite" in by_store and "pg" in by_store:
        goals["pg"]["le_1.5x_sqlite"] = by_store["pg"] <= GOAL_PG * by_store["sqlite"]
        pg = next(r for r in firsts if r["store"] == "pg")
        sq = next(r for r in firsts if r["store"] == "sqlite")
        if pg["server_cpu_s"] is not None:  # load-independent: CPU of all the work, the store's included
            print(f"first harvest CPU, the store's work included: pg {pg['cpu_s'] + pg['server_cpu_s']:.2f} s "
                  f"(this process {pg['cpu_s']:.2f} + store server {pg['server_cpu_s']:.2f}), "
                  f"sqlite {sq['cpu_s']:.2f} s: "
                  f"{(pg['cpu_s'] + pg['server_cpu_s']) / sq['cpu_s']:.2f}×")
    for store, g in goals.items():
        print(f"goal ({store} store): first harvest ≤ {GOAL_S:.0f} s: {'met' if g['le_10s'] else 'MISSED'}; "
              f"≤ {GOAL_RATIO:.0f}× anchor: {'met' if g['le_3x_anchor'] else 'MISSED'}"
              + (f"; ≤ {GOAL_PG}× the SQLite store: {'met' if g['le_1.5x_sqlite'] else 'MISSED'}"
                 if "le_1.5x_sqlite" in g else ""))
    print(f"load average (1/5/15 min) at the end: {load()}")
    write_results("catalog_harvest", {
        "tables": args.tables, "columns": args.columns, "anchor_information_schema_s": round(anchor_s, 3),
        "anchor_rows": {"tables": n_tables, "columns": n_columns}, "setup_s": round(setup.s, 1),
        "runs": rows, "impact": impacts,
        "goal": {"first_harvest_s": GOAL_S, "ratio_to_anchor": GOAL_RATIO, "pg_vs_sqlite": GOAL_PG},
        "goal_met": goals, "load_average": load(),
    })


if __name__ == "__main__":
    main()
