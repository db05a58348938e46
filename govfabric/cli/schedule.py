"""``govfabric schedule …`` (jobs) and ``govfabric scheduler`` (the long-lived runner) — §8.4.5."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Scheduled harvests, quality runs and exports.", no_args_is_help=True)
add_app = typer.Typer(help="Schedule a job.", no_args_is_help=True)
app.add_typer(add_app, name="add")
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
EVERY = typer.Option(None, "--every", help="interval, e.g. 30s, 15m, 1h, 1d")
CRON = typer.Option(None, "--cron", help="5-field cron in UTC, e.g. '0 2 * * *'")
NAME = typer.Option(None, "--name", help="job name (default KIND:TARGET)")


def _added(job: dict) -> None:
    console.print(f"scheduled [bold]{job['name']}[/bold] ({job['kind']}), "
                  f"next run {job['next_run_at']:%Y-%m-%d %H:%M:%S} UTC")


def _sched(ctx: typer.Context):
    return get_fabric(ctx).schedule


@add_app.command("harvest")
def add_harvest(ctx: typer.Context, source: str, every: OptStr = EVERY, cron: OptStr = CRON,
                name: OptStr = NAME) -> None:
    """Harvest a registered source periodically."""
    _added(_sched(ctx).add("harvest", source, every=every, cron=cron, name=name))


@add_app.command("quality")
def add_quality(ctx: typer.Context, asset: str, every: OptStr = EVERY, cron: OptStr = CRON,
                name: OptStr = NAME,
                engine: str = typer.Option("auto", "--engine", help="auto | duckdb | postgresql | trino")) -> None:
    """Run an asset's quality rules periodically (needs the quality module)."""
    _added(_sched(ctx).add("quality", asset, every=every, cron=cron, name=name,
                           options={"engine": engine} if engine != "auto" else None))


@add_app.command("export")
def add_export(ctx: typer.Context, query: str = typer.Argument(..., help="virtual SQL"),
               fmt: str = typer.Option("parquet", "--format", help="parquet or csv"),
               output: str = typer.Option(..., "-o", "--output",
                                          help="file to (re)write, under the export root (default <home>/exports)"),
               every: OptStr = EVERY, cron: OptStr = CRON, name: OptStr = NAME) -> None:
    """Export a virtual query's answer to a Parquet/CSV file periodically (policies applied).

    A relative FILE is taken from the export root; an absolute one must lie inside it."""
    from pathlib import Path

    job = _sched(ctx).add("export", query, every=every, cron=cron, name=name or f"export:{Path(output).name}",
                          options={"format": fmt, "output": output})
    _added(job)


@app.command("list")
def list_jobs(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Scheduled jobs, their next run and last status."""
    print_table(_sched(ctx).jobs(), ["name", "kind", "target", "every_s", "cron", "next_run_at", "last_status",
                                     "created_by"], "Scheduled jobs", as_json)


@app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Remove a scheduled job."""
    _sched(ctx).remove(name)
    console.print(f"removed {name}")


@app.command("runs")
def runs(ctx: typer.Context, name: OptStr = typer.Argument(None), limit: int = 20, as_json: bool = JSON_OPTION) -> None:
    """Recent runs: status, duration, error."""
    print_table(_sched(ctx).runs(name, limit), ["job", "started_at", "status", "duration_ms", "error"], "Runs",
                as_json)


@app.command("run-due")
def run_due(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Run every job whose time has come, once (refused while a scheduler runs)."""
    from govfabric.governance.schedule.service import runner_lock

    fabric = get_fabric(ctx)
    with runner_lock(fabric.settings.home):
        done = _sched(ctx).run_due()
    if as_json:
        print_json(done)
    else:
        print_table(done, ["job", "status", "duration_ms", "error"], "Runs")


def register(root: typer.Typer) -> None:
    @root.command("scheduler")
    def scheduler(ctx: typer.Context,
                  tick: float = typer.Option(5.0, "--tick", help="seconds between checks for due jobs"),
                  max_runtime: Optional[float] = typer.Option(None, "--max-runtime",  # noqa: UP045
                                                              help="stop after this many seconds")) -> None:
        """Run scheduled jobs until stopped (SIGTERM/Ctrl-C); one scheduler per workspace."""
        from govfabric.governance.schedule.service import serve

        fabric = get_fabric(ctx)
        console.print(f"scheduler running for {fabric.settings.home} (tick {tick}s); SIGTERM stops it")
        n = serve(fabric, tick, max_runtime, on_run=lambda r: console.print(
            f"{r['started_at']:%H:%M:%S} {r['job']}: {r['status']} in {r['duration_ms']:.0f} ms"
            + (f" — {r['error']}" if r["error"] else ""), highlight=False))
        console.print(f"scheduler stopped after {n} run(s)")
