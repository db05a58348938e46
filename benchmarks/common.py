"""Small helpers shared by the benchmarks: timing, percentiles, result files, tables,
and throwaway PostgreSQL databases.

Every benchmark measures its anchor in the same run, prints a table with the ratio
to it, and writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

#: where results go: ``$GOVFABRIC_BENCH_RESULTS`` when set (the CI smoke writes to a temp dir)
RESULTS_ENV = "GOVFABRIC_BENCH_RESULTS"
RESULTS = Path(os.environ.get(RESULTS_ENV) or Path(__file__).parent / "results")
PG_ENV = "GOVFABRIC_BENCH_PG_URL"
T = TypeVar("T")


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` (seconds) / ``t.ms``."""

    def __enter__(self) -> Timer:
        self.s = 0.0
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self._t0

    @property
    def ms(self) -> float:
        return self.s * 1000


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` once; return its result and the seconds it took."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max / mean of latencies in milliseconds, rounded for reports."""
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2) if ms else math.nan,
            "mean_ms": round(sum(ms) / len(ms), 2) if ms else math.nan}


def ratio(value: float, anchor: float) -> float:
    return round(value / anchor, 2) if anchor else math.inf


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Print an aligned plain-text table (numbers right-aligned)."""
    cells = [[_fmt(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows) for i in range(len(headers))]

    def line(vals: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(vals, widths, numeric, strict=True))

    if title:
        print(f"\n{title}")
    print(line(list(headers)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print(line(r))


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "NO", None: "-"}[v]
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def process_cpu(pid: int) -> tuple[str, int, float] | None:
    """(command, process group, user + system CPU seconds) of a process on this machine, from
    ``/proc/<pid>/stat``; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (stat[stat.index("(") + 1:stat.rindex(")")], int(fields[2]),
            (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))


def processes_cpu() -> dict[int, tuple[str, int, float]]:
    """:func:`process_cpu` of every process on this machine, by pid."""
    return {int(p): got for p in os.listdir("/proc") if p.isdigit() and (got := process_cpu(int(p))) is not None}


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` (or under ``$GOVFABRIC_BENCH_RESULTS``) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(f"\nresults written to {path}")
    return path


def add_pg_url_argument(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--pg-url", default=os.environ.get(PG_ENV),
                    help=f"PostgreSQL server URL for the PostgreSQL parts (default: ${PG_ENV}; "
                         "skipped when unset), e.g. postgresql://postgres@127.0.0.1:5432/postgres")


def with_database(url: str, db: str) -> str:
    """The same server URL pointing at database ``db``."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}"


@contextmanager
def pg_database(server_url: str, prefix: str = "gfbench") -> Iterator[str]:
    """A fresh PostgreSQL database on the server, dropped afterwards; yields its URL."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def enterprise_workspace(home: Path, data: Path) -> tuple[Any, Any]:
    """A fresh workspace with ``steward1`` (市场监管局) and ``analyst1``, the DuckDB file ``data`` (a table
    ``enterprise``) registered, harvested and mapped as ``market.enterprise``; returns (fabric, steward)."""
    from govfabric.fabric import init_workspace

    fabric = init_workspace(home)
    fabric.add_principal("steward1", ["steward"], department="市场监管局")
    fabric.add_principal("analyst1", ["analyst"], department="发展改革委")
    steward = fabric.as_user("steward1")
    steward.catalog.add_source("bench", f"duckdb:///{data}")
    steward.catalog.harvest("bench")
    steward.virtual.create_table("market.enterprise", "bench.main.enterprise")
    return fabric, steward
