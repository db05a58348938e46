"""``govfabric sql`` — virtual SQL across departments — and ``govfabric engine status``."""

from __future__ import annotations

import json
import sys
from itertools import chain
from pathlib import Path
from typing import IO, Optional

import pyarrow as pa
import typer
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from govfabric.cli.common import JSON_OPTION, console, duration, get_fabric, print_json, print_table
from govfabric.outputs import atomic_open, export_path, export_root

engine_app = typer.Typer(help="Query engines and the data access layer's monitoring.", no_args_is_help=True)
FORMATS = ("table", "csv", "json", "jsonl", "parquet")
TABLE_ROWS = 1000


def _write(batches: object, fmt: str, output: Path | None, root: Path | None = None) -> int:
    """Results to stdout, or to ``output`` (already checked by :func:`govfabric.outputs.export_path`)
    written atomically with mode 0640."""
    if output is None:
        return _write_to(batches, fmt, sys.stdout.buffer)
    with atomic_open(output, root) as sink:
        return _write_to(batches, fmt, sink)


def _write_to(batches: object, fmt: str, sink: IO[bytes]) -> int:
    """Each batch is written as it arrives and then dropped: memory stays at a few batches
    whatever the result's size (never a list or table of the whole answer)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    it = iter(batches)  # type: ignore[call-overload]
    first = next(it, None)
    if fmt == "parquet":
        if first is None:
            return 0
        with pq.ParquetWriter(sink, first.schema) as w:
            for b in chain((first,), it):
                w.write_batch(b)
                rows += b.num_rows
        return rows
    try:
        if fmt == "csv":
            if first is not None:
                with pacsv.CSVWriter(sink, first.schema) as w:
                    for b in chain((first,), it):
                        w.write_batch(b)
                        rows += b.num_rows
        else:  # json: one array, streamed a record at a time; jsonl: one object per line
            lines = fmt == "jsonl"
            if not lines:
                sink.write(b"[")
            for b in chain((first,), it) if first is not None else ():
                for rec in b.to_pylist():
                    text = json.dumps(rec, ensure_ascii=False, default=str)
                    sep = "\n" if lines else (",\n" if rows else "\n")
                    sink.write((text + "\n" if lines else sep + text).encode("utf-8"))
                    rows += 1
            if not lines:
                sink.write(b"\n]\n" if rows else b"]\n")
    finally:
        sink.flush()
    return rows


def register(app: typer.Typer) -> None:
    @app.command("sql")
    def sql(
        ctx: typer.Context,
        query: str = typer.Argument(..., help="SELECT over virtual tables and views"),
        engine: Optional[str] = typer.Option(None, help="duckdb (default) | trino"),  # noqa: UP045
        dialect: Optional[str] = typer.Option(None, help="dialect of QUERY: mysql, postgres, oracle, …"),  # noqa: UP045
        fmt: str = typer.Option("table", "--format", help=" | ".join(FORMATS)),
        output: Optional[str] = typer.Option(None, "--output", "-o",  # noqa: UP045
                                             help="write to FILE under the export root (default <home>/exports)"),
        explain: bool = typer.Option(False, "--explain", help="show the rewritten SQL per engine; run nothing"),
    ) -> None:
        """Run virtual SQL as you: only granted columns and rows, masks applied."""
        if fmt not in FORMATS:
            raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
        fabric = get_fabric(ctx)
        if explain:
            for name, text in fabric.queries.explain(query, dialect=dialect).items():
                console.print(f"[bold]-- {name}[/bold]")
                console.print(Syntax(text, "sql", word_wrap=True))
            return
        if fmt == "parquet" and not output:
            raise typer.BadParameter("--format parquet needs --output FILE")
        target = export_path(fabric.settings, output) if output and fmt != "table" else None
        if fmt != "table":  # an export, streamed: bounded by export_row_limit, not query_row_limit
            batches = fabric.queries.stream(query, dialect=dialect, engine=engine,
                                            row_limit=fabric.settings.export_row_limit)
            rows = _write(batches, fmt, target, export_root(fabric.settings))
            if target:
                console.print(f"wrote {rows} rows to {escape(str(target))}")
            return
        collected = list(fabric.sql_stream(query, dialect=dialect, engine=engine))
        table = pa.Table.from_batches(collected) if collected else pa.table({})
        t = Table(show_lines=False)
        for name in table.column_names:
            t.add_column(escape(name), overflow="fold")
        for rec in table.slice(0, TABLE_ROWS).to_pylist():
            t.add_row(*[escape("" if v is None else str(v)) for v in rec.values()])
        console.print(t)
        more = f" (showing {TABLE_ROWS})" if table.num_rows > TABLE_ROWS else ""
        console.print(f"[dim]{table.num_rows} row(s){more}[/dim]")

    @engine_app.command("status")
    def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """Engines, sources reachable, queries run, errors and latency."""
        st = get_fabric(ctx).queries.status()
        if as_json:
            print_json(st)
            return
        print_table([{"engine": k, **{x: v.get(x) for x in ("version", "reachable", "error")}}
                     for k, v in st["engines"].items()], ["engine", "version", "reachable", "error"], "Engines")
        print_table([{**s, "latency": duration(s.get("latency_ms"))} for s in st["sources"]],
                    ["source", "kind", "reachable", "latency", "error"], "Sources")
        print_table([{**q, "avg": duration(q.get("avg_ms")), "max": duration(q.get("max_ms"))} for q in st["queries"]],
                    ["engine", "status", "count", "avg", "max"], "Queries")
        lat = st["latency_ms"]
        latency = (f"latency p50 {duration(lat['p50'])}, p95 {duration(lat['p95'])} over the last {lat['n']} queries"
                   if lat.get("n") else "no queries yet")
        console.print(f"{latency}; virtual tables: {st['virtual_tables']['total']}, "
                      f"broken: {', '.join(st['virtual_tables']['broken']) or 'none'}")

    app.add_typer(engine_app, name="engine")

