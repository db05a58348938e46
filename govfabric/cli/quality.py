"""``govfabric quality …``: rules, runs, results, Data Docs, work orders and remedies."""

from __future__ import annotations

import json
from typing import Any

import typer

app = typer.Typer(help="Data quality: rules on great-expectations, runs, work orders, remedies.",
                  no_args_is_help=True)
rule_app = typer.Typer(help="Quality rules on catalog assets.", no_args_is_help=True)
orders_app = typer.Typer(help="Rectification work orders.", no_args_is_help=True)
suggest_app = typer.Typer(help="Remedies: completion, correction, merge suggestions.", no_args_is_help=True)
app.add_typer(rule_app, name="rule")
app.add_typer(orders_app, name="orders")
app.add_typer(suggest_app, name="suggest")


def _svc(ctx: typer.Context) -> Any:
    from govfabric.cli.common import get_fabric
    from govfabric.governance.quality.service import QualityService

    return QualityService(get_fabric(ctx))


def _out(rows: list[dict[str, Any]], cols: list[str], title: str) -> None:
    from govfabric.cli.common import print_table

    print_table(rows, cols, title)


def _json(text: str, what: str) -> Any:
    from govfabric.cli.common import parse_json

    return parse_json(text, what)


@rule_app.command("add")
def rule_add(ctx: typer.Context, asset: str, definition: str = typer.Argument(..., help="the rule as JSON")
             ) -> None:
    """Add a rule (kinds: unique, not_null, fluctuation, in_set, format, reference)."""
    r = _svc(ctx).add_rule(asset, _json(definition, "the rule"))
    typer.echo(f"rule {r.name} ({r.id}) added to {r.asset_name}")


@rule_app.command("list")
def rule_list(ctx: typer.Context, asset: str | None = typer.Argument(None)) -> None:
    _out([{"id": r.id, "asset": r.asset_name, "name": r.name, "kind": r.kind,
           "spec": json.dumps(r.spec, ensure_ascii=False)} for r in _svc(ctx).rules(asset)],
         ["id", "asset", "name", "kind", "spec"], "Quality rules")


@rule_app.command("remove")
def rule_remove(ctx: typer.Context, rule: str) -> None:
    _svc(ctx).remove_rule(rule)
    typer.echo(f"rule {rule} removed")


@app.command("run")
def run(ctx: typer.Context, asset: str, no_docs: bool = typer.Option(False, "--no-docs"),
        engine: str = typer.Option("auto", "--engine", help="auto | duckdb | postgresql | trino")) -> None:
    """Validate ASSET's rules pushed down as SQL; failed rules open work orders."""
    svc = _svc(ctx)
    r = svc.run(asset, docs=not no_docs, engine=engine)
    _results(svc, r.id)
    typer.echo(f"run {r.id} on {r.engine}: {r.rules - r.failed}/{r.rules} passed in {r.duration_ms:.0f} ms"
               + (f"; docs: {r.docs_path}" if r.docs_path else ""))
    if not r.success:
        raise typer.Exit(1)


def _results(svc: Any, run_id: str | None) -> None:
    _out([{"rule": x.rule_name, "ok": "yes" if x.success else "NO", "observed": x.observed.get("value"),
           "unexpected": x.unexpected_count, "sample": ", ".join(map(str, x.sample[:5])), "error": x.message or ""}
          for x in svc.results(run_id)], ["rule", "ok", "observed", "unexpected", "sample", "error"], "Results")


@app.command("results")
def results(ctx: typer.Context, run: str | None = typer.Argument(None, help="run id (default: latest)")) -> None:
    _results(_svc(ctx), run)


@app.command("docs")
def docs(ctx: typer.Context, run: str) -> None:
    """Print the path of RUN's Data Docs (HTML)."""
    typer.echo(str(_svc(ctx).docs(run)))


@orders_app.command("list")
def orders_list(ctx: typer.Context, status: str | None = None, department: str | None = None) -> None:
    _out([{"#": o.number, "status": o.status, "department": o.department, "title": o.title}
          for o in _svc(ctx).orders(status=status, department=department)], ["#", "status", "department", "title"],
         "Work orders")


@orders_app.command("start")
def orders_start(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    typer.echo(f"#{number}: {_svc(ctx).start(number, note).status}")


@orders_app.command("fix")
def orders_fix(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    typer.echo(f"#{number}: {_svc(ctx).fix(number, note).status}")


@orders_app.command("verify")
def orders_verify(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    """Re-run the rule; verified only if it passes now."""
    typer.echo(f"#{number}: {_svc(ctx).verify(number, note).status}")


@suggest_app.command("complete")
def suggest_complete(ctx: typer.Context, asset: str, column: str, key: str, from_asset: str | None = None,
                     from_column: str | None = None, group_by: str | None = None) -> None:
    rows = _svc(ctx).completion(asset, column, key, from_asset=from_asset, from_column=from_column, group_by=group_by)
    _out(rows, ["key", "column", "suggested", "reason"], "Completion suggestions")


@suggest_app.command("correct")
def suggest_correct(ctx: typer.Context, asset: str, column: str, standard: str | None = None,
                    domain: str | None = typer.Option(None, help="comma-separated valid codes")) -> None:
    rows = _svc(ctx).corrections(asset, column, standard=standard, domain=domain.split(",") if domain else None)
    _out([{**r, "candidates": ", ".join(r["candidates"])} for r in rows], ["value", "candidates", "reason"],
         "Correction candidates")


@suggest_app.command("merge")
def suggest_merge(ctx: typer.Context, threshold: float = 85.0) -> None:
    rows = _svc(ctx).merge_suggestions(threshold=threshold)
    _out([{"assets": " ~ ".join(r["assets"]), "reasons": "; ".join(r["reasons"])} for r in rows],
         ["assets", "reasons"], "Merge suggestions")


@app.command("duplicates")
def duplicates(ctx: typer.Context, asset: str, record: str = typer.Option(..., help="the new record as JSON"),
               columns: str = typer.Option(..., help="comma-separated columns to compare"),
               block_on: str | None = None, prefix: int = 2, threshold: float = 85.0) -> None:
    """Likely duplicates of a new record (rapidfuzz, blocked on a key prefix)."""
    rows = _svc(ctx).duplicates(asset, _json(record, "--record"), columns.split(","), block_on=block_on,
                             prefix=prefix, threshold=threshold)
    _out([{"score": r["score"], "row": json.dumps(r["row"], ensure_ascii=False, default=str)} for r in rows],
         ["score", "row"], "Likely duplicates")
