"""TPC-H through govfabric's virtual SQL layer vs the raw engine on the same data, same run.

Parts (each prints a table and its geomean ratio; goal ≤ 1.05× for the plain grant):

1. ``duckdb``: TPC-H (``--sf``, default 1; DuckDB's tpch extension, generated once into a cached
   DuckDB file, not timed) registered as a ``duckdb`` source, harvested, mapped 1:1 to virtual
   tables ``tpch.<table>``; the 22 queries as a principal with plain grants (``fabric.sql``)
   vs raw DuckDB on a connection to the same file with the same threads and memory limit.
   Warm runs, median of ``--repeat``, raw / plain / masked interleaved per query (the order
   rotates every repetition).
2. ``masked``: the same queries as a principal with row filters on ``lineitem`` and ``orders``
   (each keeps ~90 % of rows) and two masked columns (``customer.c_phone`` mobile,
   ``customer.c_name`` salted hash); ratio to the same raw runs. Queries that touch masked
   columns return other rows by design: timings only. EXPLAIN of the rewritten SQL says whether
   each row filter reached the scan, where mask expressions are evaluated and which scan
   filters masking removed.
3. ``trino``: TPC-H SF0.1 loaded into PostgreSQL (``--pg-url``), registered as a
   ``postgresql`` source; ``fabric.sql(q, engine="trino")`` vs the same queries sent with the
   ``trino`` client to the same Trino catalog. Skipped (with a message) without a Trino URL,
   a PostgreSQL URL or govfabric's Trino engine.

govfabric runs are instrumented (wrappers around ``QueryService.plan``/``_record`` and the
engine's ``prepare``; no behaviour change) so the overhead is split into plan / prepare /
execute / record. The rewritten SQL is also run on the raw connection ("raw(rewritten)") to
separate what the SQL shape costs from what the pipeline around it costs.

    python benchmarks/tpch_virtual.py [--sf 1] [--repeat 3] [--quick] [--parts duckdb,masked,trino]
                                      [--queries 1,3,10] [--pg-url URL] [--trino-url URL]

The machine may be shared: numbers are noisy; the script interleaves and repeats, and prints
the spread (min/max of per-run ratios) beside each median.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).parent))
from common import print_table, write_results

from govfabric.fabric import Fabric, init_workspace
from govfabric.virtualization.engines.duckdb import DuckDBEngine

NAME = "tpch_virtual"
TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
SOURCE = "tpchsrc"
PG_SOURCE = "tpchpg"
PLAIN, MASKED = "analyst_plain", "analyst_masked"
FILTER_DATE = "1992-09-01"  # l_shipdate / o_orderdate >= this keeps ~92 % / ~90 % of rows
ROW_FILTERS = {
    "lineitem": f"l_shipdate >= DATE '{FILTER_DATE}'",
    "orders": f"o_orderdate >= DATE '{FILTER_DATE}'",
}
MASKS = {"c_phone": ("mobile", {}), "c_name": ("hash", {"salt": "bench-salt"})}
GOAL = 1.05


# -- data ---------------------------------------------------------------------------------------


def cache_dir() -> Path:
    root = Path(os.environ.get("GOVFABRIC_CACHE") or Path.home() / ".cache" / "govfabric")
    return root / "tpch"


def tpch_extension(con: Any) -> None:
    import duckdb_extensions

    con.execute(f"SET extension_directory = '{cache_dir() / 'duckdb_extensions'}'")
    duckdb_extensions.import_extension("tpch", con=con)
    con.execute("LOAD tpch")


def tpch_file(sf: float) -> Path:
    """A DuckDB file holding TPC-H at scale ``sf``, generated once and cached (not timed)."""
    path = cache_dir() / f"tpch_sf{sf:g}.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    print(f"generating TPC-H SF{sf:g} into {path} (once; not timed) …", flush=True)
    t0 = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        tpch_extension(con)
        con.execute("CALL dbgen(sf = ?)", [sf])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.replace(path)
    print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def tpch_queries() -> list[tuple[int, str]]:
    con = duckdb.connect()
    try:
        tpch_extension(con)
        return [(int(n), q) for n, q in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall()]
    finally:
        con.close()


def virtualise(query: str, schema: str) -> str:
    """The query with its bare TPC-H table names pointed at ``schema.<table>`` (on the AST)."""
    tree = sqlglot.parse_one(query, read="duckdb")
    for table in tree.find_all(exp.Table):
        if not table.db and table.name in TABLES:
            table.set("db", exp.to_identifier(schema))
    return tree.sql("duckdb")


# -- workspace ----------------------------------------------------------------------------------


def build_workspace(home: Path, db: Path, trino_url: str | None) -> Fabric:
    """Admin workspace: the TPC-H file as a source, 1:1 virtual tables, two principals.

    Masks the workspace set by itself on the new virtual tables (its PII scan proposes default
    masks) are removed and listed in ``AUTO_MASKS``: the plain principal must see raw values and
    the masked one exactly the two masks below, or the comparison is not what it says."""
    home.mkdir(parents=True, exist_ok=True)
    if trino_url:
        (home / "config.toml").write_text(f'user = "admin"\ntrino_url = "{trino_url}"\n', encoding="utf-8")
    admin = init_workspace(home)
    admin.catalog.add_source(SOURCE, f"duckdb:///{db}")
    admin.catalog.harvest(SOURCE)
    for t in TABLES:
        admin.virtual.create_table(f"tpch.{t}", f"{SOURCE}.main.{t}")
    drop_default_masks(admin, "tpch.")
    admin.add_principal(PLAIN, roles=["analyst"])
    admin.add_principal(MASKED, roles=["analyst"])
    for t in TABLES:
        # masks are per table for everyone; the plain principal's grant lifts them (unmasked)
        unmasked = list(MASKS) if t == "customer" else None
        admin.access.grant(PLAIN, f"tpch.{t}", unmasked=unmasked, purpose="benchmark")
        admin.access.grant(MASKED, f"tpch.{t}", purpose="benchmark")
    for col, (rule, params) in MASKS.items():
        admin.access.set_mask("tpch.customer", col, rule, params)
    for t, expr in ROW_FILTERS.items():
        admin.access.add_row_filter(f"tpch.{t}", MASKED, expr)
    return admin


AUTO_MASKS: list[str] = []


def drop_default_masks(admin: Fabric, prefix: str) -> None:
    for m in admin.access.masks():
        if m.table_name.startswith(prefix):
            AUTO_MASKS.append(f"{m.table_name}.{m.column_name}: {m.rule}")
            admin.access.remove_mask(m.table_name, m.column_name)


class Phases:
    """Wall time per phase of one ``fabric.sql`` call, by wrapping (not changing) the service's
    ``_plan`` (the plan, from its cache or afresh) and ``_record`` and the engine's ``prepare``
    on these instances only."""

    def __init__(self, fabric: Fabric, engine: str) -> None:
        self.t: dict[str, float] = defaultdict(float)
        qs = fabric.queries
        self._wrap(qs, "_plan", "plan")
        self._wrap(qs, "_record", "record")
        self._wrap(qs.engine(engine), "prepare", "prepare")

    def _wrap(self, obj: Any, attr: str, label: str) -> None:
        orig = getattr(obj, attr)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                self.t[label] += time.perf_counter() - t0

        setattr(obj, attr, timed)

    def take(self) -> dict[str, float]:
        out = dict(self.t)
        self.t.clear()
        return out


# -- measuring ----------------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    if isinstance(v, float | Decimal):
        return float(f"{float(v):.6g}")
    return v


def rows_of(result: Any) -> list[tuple[Any, ...]]:
    rows = result.to_pylist() if isinstance(result, pa.Table) else result
    out = [tuple(_norm(v) for v in (r.values() if isinstance(r, dict) else r)) for r in rows]
    return sorted(out, key=repr)


def interleaved(runners: dict[str, Callable[[], Any]], repeat: int, phases: dict[str, Phases]
                ) -> tuple[dict[str, list[float]], dict[str, Any], dict[str, dict[str, float]]]:
    """One warm-up run of each runner (its result kept), then ``repeat`` rounds, the runners'
    order rotating each round. Returns wall times (s) per runner (and ``<runner>.cpu``: CPU time
    of this process, all threads — far less sensitive to other processes on a shared machine),
    warm-up results, median phases."""
    results = {}
    for name, fn in runners.items():
        results[name] = fn()
        if name in phases:
            phases[name].take()
    times: dict[str, list[float]] = {n: [] for n in runners}
    for n in runners:
        times[f"{n}.cpu"] = []
    ph: dict[str, list[dict[str, float]]] = {n: [] for n in phases}
    names = list(runners)
    for r in range(repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            c0, t0 = time.process_time(), time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - t0)
            times[f"{name}.cpu"].append(time.process_time() - c0)
            if name in phases:
                ph[name].append(phases[name].take())
    med_ph = {n: {k: statistics.median(p.get(k, 0.0) for p in lst) for k in ("plan", "prepare", "record")}
              for n, lst in ph.items() if lst}
    return times, results, med_ph


def geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def per_run_ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


# -- where the overhead goes -------------------------------------------------------------------

#: (label, module, class or None, attribute): timed wrappers installed for the breakdown only
PROBES = (
    ("plan.cache_generation", "govfabric.virtualization.cache", None, "current"),
    ("plan.policy_db", "govfabric.virtualization.access", "Access", "policy_until"),
    ("plan.resolve_db", "govfabric.virtualization.tables", "CatalogResolver", "resolve"),
    ("plan.pipeline", "govfabric.virtualization.query", None, "plan"),
    ("plan.lineage_template", "govfabric.governance.lineage.events", None, "query_template"),
    ("record.lineage_event", "govfabric.governance.lineage.events", None, "record_query"),
    ("record.audit_append", "govfabric.virtualization.query", None, "append_many"),
    ("record.commit", "sqlalchemy.orm.session", "Session", "commit"),
    ("record.usage", "govfabric.catalog.usage", None, "record_usage"),
)


@contextmanager
def probes(engine: Any) -> Iterator[dict[str, list[float]]]:
    """Timed wrappers around the pipeline's inner steps (restored afterwards); the dict holds
    seconds and call counts accumulated since the last ``clear()``."""
    import importlib

    acc: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    undo: list[tuple[Any, str, Any]] = []
    missing = object()

    def wrap(owner: Any, attr: str, label: str) -> None:
        orig = getattr(owner, attr, None)
        if orig is None:
            return

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(*a, **k)
            finally:
                acc[label][0] += time.perf_counter() - t0
                acc[label][1] += 1

        undo.append((owner, attr, owner.__dict__.get(attr, missing)))
        setattr(owner, attr, timed)

    for label, module, cls, attr in PROBES:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        wrap(getattr(mod, cls) if cls else mod, attr, label)
    wrap(engine, "_open", "prepare.reopen_connection")
    try:
        yield acc
    finally:
        for owner, attr, prev in reversed(undo):
            if prev is missing:
                delattr(owner, attr)
            else:
                setattr(owner, attr, prev)


def overhead_breakdown(fabric: Fabric, vqueries: list[tuple[int, str]], runs: int) -> dict[str, Any]:
    """Median per-query time of each step around execution (same query repeated: warm)."""
    phases = Phases(fabric, "duckdb")
    labels = ["total", "plan", "prepare", "record", "execute+arrow", *(p[0] for p in PROBES),
              "prepare.reopen_connection"]
    samples: dict[str, list[float]] = {k: [] for k in labels}
    with probes(fabric.queries.engine("duckdb")) as acc:
        for _, vq in vqueries:
            fabric.sql(vq)
            for _ in range(runs):
                acc.clear()
                phases.take()
                t0 = time.perf_counter()
                fabric.sql(vq)
                total = time.perf_counter() - t0
                ph = phases.take()
                samples["total"].append(total)
                for k in ("plan", "prepare", "record"):
                    samples[k].append(ph.get(k, 0.0))
                samples["execute+arrow"].append(total - sum(ph.values()))
                for label in labels[5:]:
                    samples[label].append(acc[label][0] if label in acc else 0.0)
    samples["plan.pipeline_sqlglot (without resolve_db)"] = [
        p - r for p, r in zip(samples["plan.pipeline"], samples["plan.resolve_db"], strict=True)]
    samples.update(cold_plans(fabric, vqueries, runs))
    return {k: {"median_ms": round(statistics.median(v) * 1e3, 2), "p90_ms": round(_p90(v) * 1e3, 2)}
            for k, v in samples.items()}


def cold_plans(fabric: Fabric, vqueries: list[tuple[int, str]], runs: int) -> dict[str, list[float]]:
    """Planning a query the cache has not seen: with names and policy still cached (a new query
    of a known principal), and from nothing (the first query after a write)."""
    from govfabric.virtualization import cache

    qs = fabric.queries
    out: dict[str, list[float]] = {"plan (new query)": [], "plan (after a write)": []}
    for _, vq in vqueries:
        for i in range(runs):
            qs._plan("SELECT 1 AS x FROM tpch.region", None, "duckdb")  # names and policy cached
            t0 = time.perf_counter()
            qs._plan(f"{vq} -- {i}", None, "duckdb")  # the comment makes it a query never planned
            out["plan (new query)"].append(time.perf_counter() - t0)
            cache.forget(fabric.store)
            t0 = time.perf_counter()
            qs._plan(vq, None, "duckdb")
            out["plan (after a write)"].append(time.perf_counter() - t0)
    return out


def _p90(v: list[float]) -> float:
    xs = sorted(v)
    return xs[min(len(xs) - 1, int(0.9 * len(xs)))]


def sequence(raw: Any, fabric: Fabric, queries: list[tuple[int, str]], vqueries: list[tuple[int, str]],
             repeat: int) -> dict[str, Any]:
    """The 22 queries one after another (an analyst's session), raw vs govfabric, alternating:
    here each query differs from the one before, as in real use."""
    eng = fabric.queries.engine("duckdb")
    out: dict[str, list[float]] = {"raw": [], "govfabric": [], "raw.cpu": [], "govfabric.cpu": []}
    reopens: list[int] = []
    for r in range(repeat + 1):
        order = ["raw", "govfabric"] if r % 2 == 0 else ["govfabric", "raw"]
        for who in order:
            with probes(eng) as acc:
                c0, t0 = time.process_time(), time.perf_counter()
                if who == "raw":
                    for _, q in queries:
                        raw.execute(q).to_arrow_table()
                else:
                    for _, vq in vqueries:
                        fabric.sql(vq)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                if r:  # round 0 warms up
                    out[who].append(dt)
                    out[f"{who}.cpu"].append(cpu)
                    if who == "govfabric":
                        reopens.append(acc["prepare.reopen_connection"][1])
                        reopen_s = acc["prepare.reopen_connection"][0]
    med = {k: statistics.median(v) for k, v in out.items()}
    return {"raw_s": round(med["raw"], 3), "govfabric_s": round(med["govfabric"], 3),
            "ratio": round(med["govfabric"] / med["raw"], 3),
            "cpu_ratio": round(med["govfabric.cpu"] / med["raw.cpu"], 3),
            "ratio_runs": [round(g / r, 3) for g, r in zip(out["govfabric"], out["raw"], strict=True)],
            "connection_reopens_per_sequence": statistics.median(reopens),
            "reopen_s_last_sequence": round(reopen_s, 3)}


# -- EXPLAIN ------------------------------------------------------------------------------------


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    for node in plan if isinstance(plan, list) else [plan]:
        yield node
        yield from _nodes(node.get("children", []))


def explain(con: Any, sql: str) -> list[dict[str, Any]]:
    text = con.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchall()[0][1]
    return list(_nodes(json.loads(text)))


def scan_terms(nodes: list[dict[str, Any]]) -> dict[str, list[set[str]]]:
    """Per scanned table, one set of filter terms per scan node."""
    out: dict[str, list[set[str]]] = defaultdict(list)
    for n in nodes:
        info = n.get("extra_info", {})
        if "Table" in info:
            table = str(info["Table"]).rsplit(".", 1)[-1]
            raw = info.get("Filters") or []
            raw = [raw] if isinstance(raw, str) else raw
            out[table].append({t.strip() for f in raw for line in f.split("\n") for t in line.split(" AND ")
                               if t.strip()})
    return out


def explain_facts(con: Any, plain_sql: str, masked_sql: str) -> dict[str, Any]:
    """Did each row filter reach its table's scan? Where are mask expressions evaluated?
    Which scan filters does the plain plan have that the masked plan lost?"""
    p_nodes, m_nodes = explain(con, plain_sql), explain(con, masked_sql)
    p_scans, m_scans = scan_terms(p_nodes), scan_terms(m_nodes)
    pushed = {}
    for t, expr in ROW_FILTERS.items():
        col = expr.split()[0]
        if t in m_scans:
            on_col = [[x for x in terms if col in x] for terms in m_scans[t]]
            if all(any(FILTER_DATE in x for x in xs) for xs in on_col):
                pushed[t] = "yes"
            elif all(on_col):
                pushed[t] = "merged"  # DuckDB kept only the query's tighter bound on the same column
            else:
                pushed[t] = "NO"
    row_filter_cols = [e.split()[0] for e in ROW_FILTERS.values()]
    lost = {}
    for t, scans in p_scans.items():
        plain_terms = set().union(*scans)
        masked_terms = set().union(*m_scans.get(t, [set()]))
        gone = sorted(x for x in plain_terms - masked_terms if not any(c in x for c in row_filter_cols))
        if gone:
            lost[t] = gone
    return {"row_filter_in_scan": pushed, "scan_filters_lost": lost}


# -- parts --------------------------------------------------------------------------------------


def raw_duckdb(db: Path, threads: int, memory_limit: str) -> Any:
    """The anchor connection: the same file attached read-only under the alias the engine uses
    (so the rewritten SQL runs on it too), the same threads and memory limit."""
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    alias = exp.to_identifier(DuckDBEngine.alias(SOURCE), quoted=True).sql("duckdb")
    con.execute(f"ATTACH {exp.Literal.string(str(db)).sql('duckdb')} AS {alias} (READ_ONLY)")
    con.execute(f"USE {alias}")
    return con


def run_duckdb_parts(admin: Fabric, db: Path, queries: list[tuple[int, str]], repeat: int,
                     with_masked: bool) -> dict[str, Any]:
    settings = admin.settings
    raw = raw_duckdb(db, settings.duckdb_threads, settings.duckdb_memory_limit)
    plain = admin.as_user(PLAIN)
    masked = admin.as_user(MASKED)
    phases = {"plain": Phases(plain, "duckdb")}
    if with_masked:
        phases["masked"] = Phases(masked, "duckdb")
    rows, facts = [], {}
    for n, q in queries:
        vq = virtualise(q, "tpch")
        plain_sql = plain.queries.plan(vq)[0].sql
        runners: dict[str, Callable[[], Any]] = {
            "raw": lambda q=q: raw.execute(q).to_arrow_table(),
            "plain": lambda vq=vq: plain.sql(vq),
            "raw_rewritten": lambda s=plain_sql: raw.execute(s).to_arrow_table(),
        }
        if with_masked:
            masked_plan = masked.queries.plan(vq)[0]
            runners["masked"] = lambda vq=vq: masked.sql(vq)
            facts[n] = explain_facts(raw, plain_sql, masked_plan.sql)
            facts[n]["masked_columns_used"] = sorted(c for cols in masked_plan.masked_columns.values() for c in cols)
        times, results, ph = interleaved(runners, repeat, phases)
        med = {k: statistics.median(v) for k, v in times.items()}
        row: dict[str, Any] = {
            "query": n,
            "raw_ms": round(med["raw"] * 1e3, 2),
            "raw_rewritten_ms": round(med["raw_rewritten"] * 1e3, 2),
            "plain_ms": round(med["plain"] * 1e3, 2),
            "plain_ratio": round(med["plain"] / med["raw"], 3),
            "plain_ratio_runs": [round(x, 3) for x in per_run_ratios(times["plain"], times["raw"])],
            "plain_cpu_ratio": round(med["plain.cpu"] / med["raw.cpu"], 3),
            "plain_same_rows": rows_of(results["plain"]) == rows_of(results["raw"]),
            "plain_phases_ms": {k: round(v * 1e3, 2) for k, v in ph["plain"].items()},
            "result_rows": results["raw"].num_rows,
        }
        if with_masked:
            row.update({
                "masked_ms": round(med["masked"] * 1e3, 2),
                "masked_ratio": round(med["masked"] / med["raw"], 3),
                "masked_cpu_ratio": round(med["masked.cpu"] / med["raw.cpu"], 3),
                "masked_ratio_runs": [round(x, 3) for x in per_run_ratios(times["masked"], times["raw"])],
                "masked_phases_ms": {k: round(v * 1e3, 2) for k, v in ph["masked"].items()},
                "explain": facts[n],
            })
        rows.append(row)
        msg = f"  Q{n:02d} raw {row['raw_ms']:8.1f} ms  plain ×{row['plain_ratio']:.3f}"
        if with_masked:
            msg += f"  masked ×{row['masked_ratio']:.3f}"
        print(msg, flush=True)
    vqueries = [(n, virtualise(q, "tpch")) for n, q in queries]
    print("  overhead breakdown (plain principal) …", flush=True)
    breakdown = overhead_breakdown(plain, vqueries, max(repeat, 2))
    print("  the queries as one sequence (each differs from the one before) …", flush=True)
    seq = sequence(raw, plain, queries, vqueries, repeat)
    raw.close()
    return {"queries": rows, "breakdown": breakdown, "sequence": seq}


def load_postgres(pg_url: str, sf: float) -> str:
    """TPC-H at ``sf`` in database ``gfbench_tpch_sf…`` (schema ``tpch``) of the server at
    ``pg_url``; kept between runs and reloaded only when its row counts are wrong."""
    import psycopg
    from common import with_database
    from psycopg import sql

    name = f"gfbench_tpch_sf{sf:g}".replace(".", "_")
    url = with_database(pg_url, name)
    src = tpch_file(sf)
    with duckdb.connect(str(src), read_only=True) as con:
        want = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608 (constants)
    with psycopg.connect(pg_url, autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url, autocommit=True) as c:
        have = {}
        for t in TABLES:
            reg = c.execute("SELECT to_regclass(%s)", [f"tpch.{t}"]).fetchone()[0]
            if reg is not None:
                have[t] = c.execute(sql.SQL("SELECT count(*) FROM tpch.{}").format(sql.Identifier(t))).fetchone()[0]
        if have == want:
            return url
        print(f"loading TPC-H SF{sf:g} into PostgreSQL database {name} (once; not timed) …", flush=True)
        c.execute("DROP SCHEMA IF EXISTS tpch CASCADE")
    t0 = time.perf_counter()
    import duckdb_extensions

    with duckdb.connect() as con:
        con.execute(f"SET extension_directory = '{cache_dir() / 'duckdb_extensions'}'")
        con.execute(f"ATTACH {exp.Literal.string(str(src)).sql('duckdb')} AS src (READ_ONLY)")
        duckdb_extensions.import_extension("postgres_scanner", con=con)
        con.execute("LOAD postgres_scanner")
        con.execute(f"ATTACH {exp.Literal.string(url).sql('duckdb')} AS pg (TYPE postgres)")
        con.execute("CREATE SCHEMA pg.tpch")
        for t in TABLES:
            con.execute(f"CREATE TABLE pg.tpch.{t} AS SELECT * FROM src.main.{t}")  # noqa: S608 (constants)
        con.execute("DETACH pg")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ANALYZE")
    print(f"  loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    return url


def trino_sql(query: str) -> str:
    """The DuckDB-dialect TPC-H query for Trino. DuckDB lets GROUP BY name a select alias
    (Q15: ``GROUP BY supplier_no``); Trino does not, so such names become the aliased expression."""
    tree = sqlglot.parse_one(query, read="duckdb")
    for select in tree.find_all(exp.Select):
        group = select.args.get("group")
        if not group:
            continue
        aliases = {e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)}
        for col in list(group.find_all(exp.Column)):
            target = aliases.get(col.name)
            if not col.table and target is not None and not (isinstance(target, exp.Column)
                                                              and target.name == col.name):
                col.replace(target.copy())
    return tree.sql("trino")


def trino_unavailable(trino_url: str | None, pg_url: str | None) -> str | None:
    if not trino_url:
        return "no Trino URL (--trino-url / GOVFABRIC_TEST_TRINO_URL)"
    if not pg_url:
        return "no PostgreSQL URL (--pg-url / GOVFABRIC_TEST_PG_URL)"
    if importlib.util.find_spec("govfabric.virtualization.engines.trino") is None:
        return "govfabric.virtualization.engines.trino does not exist yet"
    return None


def run_trino_part(admin: Fabric, trino_url: str, pg_url: str, sf: float, queries: list[tuple[int, str]],
                   repeat: int) -> dict[str, Any]:
    from urllib.parse import urlsplit

    import trino

    url = load_postgres(pg_url, sf)
    admin.catalog.add_source(PG_SOURCE, url)
    admin.catalog.harvest(PG_SOURCE)
    for t in TABLES:
        admin.virtual.create_table(f"tpch_pg.{t}", f"{PG_SOURCE}.tpch.{t}")
        admin.access.grant(PLAIN, f"tpch_pg.{t}", purpose="benchmark")
    drop_default_masks(admin, "tpch_pg.")
    plain = admin.as_user(PLAIN)
    plain.sql("SELECT count(*) FROM tpch_pg.region", engine="trino")  # creates the engine's catalog
    phases = {"govfabric": Phases(plain, "trino")}
    first = plain.queries.plan("SELECT r_name FROM tpch_pg.region", engine="trino")[0].sql
    catalog = next(t.catalog for t in sqlglot.parse_one(first, read="trino").find_all(exp.Table) if t.catalog)
    parts = urlsplit(trino_url)
    tcon = trino.dbapi.connect(host=parts.hostname, port=parts.port or 8080, user="bench",
                               http_scheme=parts.scheme or "http", catalog=catalog, schema="tpch")
    cur = tcon.cursor()

    def raw_trino(q: str) -> list[Any]:
        cur.execute(q)
        return cur.fetchall()

    rows = []
    for n, q in queries:
        tq = trino_sql(q)
        vq = virtualise(q, "tpch_pg")
        rewritten = plain.queries.plan(vq, engine="trino")[0].sql
        runners: dict[str, Callable[[], Any]] = {
            "raw": lambda tq=tq: raw_trino(tq),
            "govfabric": lambda vq=vq: plain.sql(vq, engine="trino"),
            "raw_rewritten": lambda s=rewritten: raw_trino(s),
        }
        try:
            times, results, ph = interleaved(runners, repeat, phases)
        except Exception as exc:  # one failing query must not lose the others' numbers
            msg = str(exc).splitlines()[0][:300]
            rows.append({"query": n, "error": msg})
            print(f"  Q{n:02d} FAILED: {msg}", flush=True)
            continue
        med = {k: statistics.median(v) for k, v in times.items()}
        row = {
            "query": n,
            "raw_ms": round(med["raw"] * 1e3, 1),
            "govfabric_ms": round(med["govfabric"] * 1e3, 1),
            "raw_rewritten_ms": round(med["raw_rewritten"] * 1e3, 1),
            "ratio": round(med["govfabric"] / med["raw"], 3),
            "ratio_runs": [round(x, 3) for x in per_run_ratios(times["govfabric"], times["raw"])],
            "same_rows": rows_of(results["govfabric"]) == rows_of(results["raw"]),
            "phases_ms": {k: round(v * 1e3, 2) for k, v in ph["govfabric"].items()},
            "result_rows": len(results["raw"]),
        }
        rows.append(row)
        print(f"  Q{n:02d} raw {row['raw_ms']:8.1f} ms  govfabric ×{row['ratio']:.3f}", flush=True)
    return {"catalog": catalog, "queries": rows}


# -- report -------------------------------------------------------------------------------------


def spread(runs: list[float]) -> str:
    return f"{min(runs):.2f}–{max(runs):.2f}"


def report_duckdb(res: dict[str, Any], with_masked: bool) -> dict[str, Any]:
    qs = res["queries"]
    headers = ["Q", "raw ms", "raw(rewritten) ms", "plain ms", "ratio", "runs", "cpu ratio", "plan", "prep",
               "record", "same"]
    table = [[q["query"], q["raw_ms"], q["raw_rewritten_ms"], q["plain_ms"], q["plain_ratio"],
              spread(q["plain_ratio_runs"]), q["plain_cpu_ratio"], q["plain_phases_ms"].get("plan", 0.0),
              q["plain_phases_ms"].get("prepare", 0.0), q["plain_phases_ms"].get("record", 0.0),
              q["plain_same_rows"]] for q in qs]
    print_table(headers, table, "Part 1 — plain grant via govfabric vs raw DuckDB (median ms; phases in ms)")
    summary = {
        "geomean_plain_ratio": round(geomean([q["plain_ratio"] for q in qs]), 3),
        "geomean_plain_cpu_ratio": round(geomean([q["plain_cpu_ratio"] for q in qs]), 3),
        "geomean_rewritten_sql_ratio": round(geomean([q["raw_rewritten_ms"] / q["raw_ms"] for q in qs]), 3),
        "median_overhead_ms": round(statistics.median(q["plain_ms"] - q["raw_ms"] for q in qs), 2),
        "median_phases_ms": {k: round(statistics.median(q["plain_phases_ms"].get(k, 0.0) for q in qs), 2)
                             for k in ("plan", "prepare", "record")},
        "all_results_equal": all(q["plain_same_rows"] for q in qs),
    }
    g = summary["geomean_plain_ratio"]
    print(f"geomean plain/raw ×{g:.3f} (goal ≤ {GOAL}: {'met' if g <= GOAL else 'NOT met'}); CPU-time ratio "
          f"×{summary['geomean_plain_cpu_ratio']:.3f}; "
          f"rewritten SQL on raw DuckDB ×{summary['geomean_rewritten_sql_ratio']:.3f}; "
          f"median added {summary['median_overhead_ms']} ms/query, median phases {summary['median_phases_ms']} ms; "
          f"results equal to raw: {summary['all_results_equal']}")
    print_table(["step", "median ms", "p90 ms"], [[k, v["median_ms"], v["p90_ms"]]
                                                 for k, v in res["breakdown"].items()],
                "Where govfabric's time goes per query (plain principal, warm, same query repeated)")
    seq = res["sequence"]
    summary["sequence"] = seq
    print(f"\nthe {len(qs)} queries as one sequence: raw {seq['raw_s']} s, govfabric {seq['govfabric_s']} s, "
          f"×{seq['ratio']} (runs {spread(seq['ratio_runs'])}; CPU time ×{seq['cpu_ratio']}); "
          f"DuckDB connection re-opened "
          f"{seq['connection_reopens_per_sequence']} times per sequence ({seq['reopen_s_last_sequence']} s)")
    if with_masked:
        headers = ["Q", "raw ms", "masked ms", "ratio", "runs", "cpu ratio", "vs plain", "row filter in scan",
                   "masked cols", "scan filters lost to masking"]
        table = []
        for q in qs:
            e = q["explain"]
            table.append([q["query"], q["raw_ms"], q["masked_ms"], q["masked_ratio"], spread(q["masked_ratio_runs"]),
                          q["masked_cpu_ratio"],
                          round(q["masked_ms"] / q["plain_ms"], 3),
                          ",".join(f"{t}:{v}" for t, v in e["row_filter_in_scan"].items()) or "-",
                          ",".join(e["masked_columns_used"]) or "-",
                          "; ".join(f"{t}: {' & '.join(v)}" for t, v in e["scan_filters_lost"].items()) or "-"])
        print_table(headers, table, "Part 2 — row filters (lineitem, orders) + 2 masked customer columns vs raw DuckDB")
        summary["geomean_masked_ratio"] = round(geomean([q["masked_ratio"] for q in qs]), 3)
        summary["geomean_masked_cpu_ratio"] = round(geomean([q["masked_cpu_ratio"] for q in qs]), 3)
        summary["geomean_masked_vs_plain"] = round(geomean([q["masked_ms"] / q["plain_ms"] for q in qs]), 3)
        touched = [q for q in qs if q["explain"]["masked_columns_used"]]
        untouched = [q for q in qs if not q["explain"]["masked_columns_used"]]
        lost = [q["query"] for q in qs if q["explain"]["scan_filters_lost"]]
        not_pushed = [q["query"] for q in qs if "NO" in q["explain"]["row_filter_in_scan"].values()]
        summary["masked_vs_plain_queries_with_masked_columns"] = round(
            geomean([q["masked_ms"] / q["plain_ms"] for q in touched]), 3) if touched else None
        summary["masked_vs_plain_queries_without"] = round(
            geomean([q["masked_ms"] / q["plain_ms"] for q in untouched]), 3) if untouched else None
        print("\nwhat costs, from the EXPLAIN of the rewritten SQL and the timings above:")
        print(f"- row filters: in the scan of lineitem/orders in every query that reads them "
              f"({'except Q' + ', Q'.join(map(str, not_pushed)) if not_pushed else 'no exceptions'}; 'merged' = "
              "DuckDB kept the query's own tighter bound on the same column). A scan filter costs one "
              "comparison per row and removes ~10 % of rows: queries without masked columns run "
              f"×{summary['masked_vs_plain_queries_without']} of the plain grant's time (geomean).")
        print("- masks: evaluated in the projection of the virtual table's derived table, i.e. on every "
              "customer row the scan returns, before any join or filter reduces them (sha256 + hex for the "
              "hash, length/substr/lpad for mobile). " + (
                  f"Queries that use masked columns (Q{', Q'.join(str(q['query']) for q in touched)}) run "
                  f"×{summary['masked_vs_plain_queries_with_masked_columns']} of the plain grant's time (geomean)."
                  if touched else "No query here uses a masked column."))
        print(f"- predicates on masked columns cannot become scan filters (the filter must see the masked "
              f"value): scan filters lost in Q{', Q'.join(map(str, lost)) if lost else ' none'}; those rows are "
              "masked first and filtered afterwards.")
        print(f"geomean masked/raw ×{summary['geomean_masked_ratio']:.3f} (CPU time "
              f"×{summary['geomean_masked_cpu_ratio']:.3f}); masked/plain "
              f"×{summary['geomean_masked_vs_plain']:.3f}")
    return summary


def report_trino(res: dict[str, Any]) -> dict[str, Any]:
    failed = [q for q in res["queries"] if "error" in q]
    qs = [q for q in res["queries"] if "error" not in q]
    for q in failed:
        print(f"Q{q['query']} failed on Trino: {q['error']}")
    headers = ["Q", "raw ms", "raw(rewritten) ms", "govfabric ms", "ratio", "runs", "plan", "prep", "record", "same"]
    table = [[q["query"], q["raw_ms"], q.get("raw_rewritten_ms", math.nan), q["govfabric_ms"], q["ratio"],
              spread(q["ratio_runs"]),
              q["phases_ms"].get("plan", 0.0), q["phases_ms"].get("prepare", 0.0), q["phases_ms"].get("record", 0.0),
              q["same_rows"]] for q in qs]
    print_table(headers, table, f"Part 3 — govfabric on Trino vs raw Trino (catalog {res['catalog']}; median ms)")
    g = round(geomean([q["ratio"] for q in qs]), 3)
    rw = round(geomean([q["raw_rewritten_ms"] / q["raw_ms"] for q in qs if "raw_rewritten_ms" in q]), 3)
    print(f"geomean govfabric/raw on Trino ×{g:.3f} (goal ≤ {GOAL}: {'met' if g <= GOAL else 'NOT met'})"
          + (f"; rewritten SQL sent raw ×{rw:.3f}" if math.isfinite(rw) else ""))
    return {"geomean_ratio": g, "geomean_rewritten_sql_ratio": rw, "failed_queries": [q["query"] for q in failed],
            "median_overhead_ms": round(statistics.median(q["govfabric_ms"] - q["raw_ms"] for q in qs), 1),
            "median_phases_ms": {k: round(statistics.median(q["phases_ms"].get(k, 0.0) for q in qs), 2)
                                 for k in ("plan", "prepare", "record")}}


@contextmanager
def workspace_dir(keep: bool) -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gf_tpch_"))
    try:
        yield d / "ws"
    finally:
        if keep:
            print(f"workspace kept at {d / 'ws'}")
        else:
            shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor of the DuckDB parts (default 1)")
    ap.add_argument("--trino-sf", type=float, default=0.1, help="scale factor loaded into PostgreSQL (default 0.1)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions per query and runner (default 3)")
    ap.add_argument("--quick", action="store_true", help="smoke run: SF0.1, 1 repetition")
    ap.add_argument("--parts", default="duckdb,masked,trino", help="comma list of duckdb, masked, trino")
    ap.add_argument("--queries", default="", help="comma list of query numbers (default: all 22)")
    ap.add_argument("--pg-url", default=os.environ.get("GOVFABRIC_TEST_PG_URL"),
                    help="PostgreSQL server for the Trino part (default $GOVFABRIC_TEST_PG_URL)")
    ap.add_argument("--trino-url", default=os.environ.get("GOVFABRIC_TEST_TRINO_URL"),
                    help="Trino server (default $GOVFABRIC_TEST_TRINO_URL); the Trino part is skipped without it")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark workspace")
    ap.add_argument("--report-only", action="store_true", help="reprint the tables of the last results file")
    args = ap.parse_args()
    if args.report_only:
        last = json.loads((Path(__file__).parent / "results" / f"{NAME}.json").read_text(encoding="utf-8"))
        if "duckdb" in last:
            report_duckdb(last["duckdb"], "masked_ms" in last["duckdb"]["queries"][0])
        if "queries" in last.get("trino", {}):
            report_trino(last["trino"])
        return
    if args.quick:
        args.sf, args.repeat = 0.1, 1
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    wanted = {int(x) for x in args.queries.split(",") if x.strip()}
    queries = [(n, q) for n, q in tpch_queries() if not wanted or n in wanted]

    db = tpch_file(args.sf)
    out: dict[str, Any] = {"sf": args.sf, "repeat": args.repeat, "goal_geomean_ratio": GOAL,
                           "row_filters": ROW_FILTERS, "masks": {k: v[0] for k, v in MASKS.items()},
                           "load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    skip = trino_unavailable(args.trino_url, args.pg_url) if "trino" in parts else "not requested"
    with workspace_dir(args.keep) as home:
        admin = build_workspace(home, db, args.trino_url if skip is None else None)
        out["duckdb_threads"] = admin.settings.duckdb_threads
        out["duckdb_memory_limit"] = admin.settings.duckdb_memory_limit
        try:
            if parts & {"duckdb", "masked"}:
                print(f"\nTPC-H SF{args.sf:g} on DuckDB ({admin.settings.duckdb_threads} threads), "
                      f"{len(queries)} queries, warm, median of {args.repeat}, interleaved …", flush=True)
                res = run_duckdb_parts(admin, db, queries, args.repeat, "masked" in parts)
                out["duckdb"] = {**res, "summary": report_duckdb(res, "masked" in parts)}
                write_results(NAME, out)  # again at the end; keeps these numbers if a later part fails
            if skip is None:
                print(f"\nTPC-H SF{args.trino_sf:g} in PostgreSQL through Trino, median of {args.repeat} …",
                      flush=True)
                res = run_trino_part(admin, args.trino_url, args.pg_url, args.trino_sf, queries, args.repeat)
                out["trino"] = {**res, "summary": report_trino(res)}
            else:
                print(f"\nTrino part skipped: {skip}")
                out["trino"] = {"skipped": skip}
        finally:
            admin.close()
    out["default_masks_removed"] = AUTO_MASKS
    if AUTO_MASKS:
        print(f"\nmasks the workspace set by itself on the new virtual tables (removed for this benchmark): "
              f"{'; '.join(AUTO_MASKS)}")
    out["load_average_at_end"] = os.getloadavg()
    print(f"\nload average at start {out['load_average_at_start']}, at end {out['load_average_at_end']} "
          f"on {out['cpus']} CPUs (a shared machine: compare ratios, not absolute times)")
    write_results(NAME, out)


if __name__ == "__main__":
    main()
