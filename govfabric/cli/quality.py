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

    return get_fabric(ctx).quality


def _out(rows: list[dict[str, Any]], cols: list[str], title: str, as_json: bool = False) -> None:
    from govfabric.cli.common import print_table

    print_table(rows, cols, title, as_json)


AS_JSON = typer.Option(False, "--json", help="print JSON instead of a table")


def _json(text: str, what: str) -> Any:
    from govfabric.cli.common import parse_json

    return parse_json(text, what)


@rule_app.command("add")
def rule_add(ctx: typer.Context, asset: str,
             definition: str | None = typer.Argument(None, help="the rule as JSON (any kind)"),
             unique: list[str] = typer.Option([], "--unique", metavar="COL[,COL…]",
                                              help="values (or their combination) are unique"),
             not_null: list[str] = typer.Option([], "--not-null", metavar="COL", help="no empty values"),
             fmt: list[str] = typer.Option([], "--format", metavar="COL:STANDARD",
                                           help="COL:uscc, COL:resident_id, or COL:/regex/"),
             ) -> None:
    """Add rules: JSON for any kind (unique, not_null, fluctuation, in_set, format, reference),
    or flags for the common ones, e.g. ``--unique tyshxydm --not-null qymc --format tyshxydm:uscc``."""
    definitions = rule_definitions(definition, unique, not_null, fmt)
    svc = _svc(ctx)
    for d in definitions:
        r = svc.add_rule(asset, d)
        typer.echo(f"rule {r.name} ({r.id}) added to {r.asset_name}")


def rule_definitions(definition: str | None, unique: list[str], not_null: list[str],
                     fmt: list[str]) -> list[dict[str, Any]]:
    """The rules that ``quality rule add``'s argument and flags describe, in order."""
    from govfabric.errors import ValidationFailed

    out: list[dict[str, Any]] = [_json(definition, "the rule")] if definition else []
    out += [{"kind": "unique", "columns": [c.strip() for c in u.split(",") if c.strip()]} for u in unique]
    out += [{"kind": "not_null", "column": c} for c in not_null]
    for f in fmt:
        column, sep, spec = f.partition(":")
        if not sep or not column or not spec:
            raise ValidationFailed(f"--format {f!r}: give COL:uscc, COL:resident_id or COL:/regex/")
        if len(spec) > 1 and spec.startswith("/") and spec.endswith("/"):
            out.append({"kind": "format", "column": column, "pattern": spec[1:-1]})
        else:
            out.append({"kind": "format", "column": column, "standard": spec})
    if not out:
        raise ValidationFailed("give the rule as JSON, or --unique COL, --not-null COL or --format COL:STANDARD")
    return out


@rule_app.command("list")
def rule_list(ctx: typer.Context, asset: str | None = typer.Argument(None), as_json: bool = AS_JSON) -> None:
    """Quality rules, of one asset or all."""
    _out([{"id": r.id, "asset": r.asset_name, "name": r.name, "kind": r.kind,
           "spec": r.spec if as_json else json.dumps(r.spec, ensure_ascii=False)} for r in _svc(ctx).rules(asset)],
         ["id", "asset", "name", "kind", "spec"], "Quality rules", as_json)


@rule_app.command("remove")
def rule_remove(ctx: typer.Context, rule: str) -> None:
    """Remove a quality rule."""
    _svc(ctx).remove_rule(rule)
    typer.echo(f"rule {rule} removed")


@app.command("run")
def run(ctx: typer.Context, asset: str, no_docs: bool = typer.Option(False, "--no-docs"),
        engine: str = typer.Option("auto", "--engine", help="auto | duckdb | postgresql | trino"),
        as_json: bool = AS_JSON) -> None:
    """Validate ASSET's rules pushed down as SQL; failed rules open work orders."""
    from govfabric.cli.common import duration, print_json, status

    svc = _svc(ctx)
    with status(f"checking the rules of {asset}" + ("" if no_docs else " and writing Data Docs") + " …"):
        r = svc.run(asset, docs=not no_docs, engine=engine)
    if as_json:
        print_json({"run": r.id, "asset": asset, "engine": r.engine, "success": r.success, "rules": r.rules,
                    "failed": r.failed, "duration_ms": round(r.duration_ms), "docs": r.docs_path})
    else:
        _results(svc, r.id)
        typer.echo(f"run {r.id} on {r.engine}: {r.rules - r.failed}/{r.rules} passed in {duration(r.duration_ms)}"
                   + (f"; docs: {r.docs_path}" if r.docs_path else ""))
    if not r.success:
        raise typer.Exit(1)


def _results(svc: Any, run_id: str | None, as_json: bool = False) -> None:
    if as_json:
        from govfabric.cli.common import print_json

        print_json([{"rule": x.rule_name, "success": x.success, "observed": x.observed,
                     "unexpected_count": x.unexpected_count, "sample": list(x.sample), "error": x.message}
                    for x in svc.results(run_id)])
        return
    _out([{"rule": x.rule_name, "ok": "yes" if x.success else "NO", "observed": x.observed.get("value"),
           "unexpected": x.unexpected_count, "sample": ", ".join(map(str, x.sample[:5])), "error": x.message or ""}
          for x in svc.results(run_id)], ["rule", "ok", "observed", "unexpected", "sample", "error"], "Results")


@app.command("results")
def results(ctx: typer.Context, run: str | None = typer.Argument(None, help="run id (default: latest)"),
            as_json: bool = AS_JSON) -> None:
    """The rule results of a run: passed or not, observed value, sample violations."""
    _results(_svc(ctx), run, as_json)


@app.command("docs")
def docs(ctx: typer.Context, run: str) -> None:
    """Print the path of RUN's Data Docs (HTML)."""
    typer.echo(str(_svc(ctx).docs(run)))


@orders_app.command("list")
def orders_list(ctx: typer.Context, status: str | None = None, department: str | None = None,
                as_json: bool = AS_JSON) -> None:
    """Rectification work orders, by status or department."""
    _out([{"#": o.number, "status": o.status, "department": o.department, "title": o.title}
          for o in _svc(ctx).orders(status=status, department=department)], ["#", "status", "department", "title"],
         "Work orders", as_json)


@orders_app.command("start")
def orders_start(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    """Start work on an order."""
    typer.echo(f"#{number}: {_svc(ctx).start(number, note).status}")


@orders_app.command("fix")
def orders_fix(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    """Mark an order fixed; `verify` re-runs its rule."""
    typer.echo(f"#{number}: {_svc(ctx).fix(number, note).status}")


@orders_app.command("verify")
def orders_verify(ctx: typer.Context, number: int, note: str | None = typer.Option(None)) -> None:
    """Re-run the rule; verified only if it passes now."""
    typer.echo(f"#{number}: {_svc(ctx).verify(number, note).status}")


@suggest_app.command("complete")
def suggest_complete(ctx: typer.Context, asset: str, column: str, key: str, from_asset: str | None = None,
                     from_column: str | None = None, group_by: str | None = None, as_json: bool = AS_JSON) -> None:
    """Values to fill a column's gaps, from another asset or the group's most common value."""
    rows = _svc(ctx).completion(asset, column, key, from_asset=from_asset, from_column=from_column, group_by=group_by)
    _out(rows, ["key", "column", "suggested", "reason"], "Completion suggestions", as_json)


@suggest_app.command("correct")
def suggest_correct(ctx: typer.Context, asset: str, column: str, standard: str | None = None,
                    domain: str | None = typer.Option(None, help="comma-separated valid codes"),
                    as_json: bool = AS_JSON) -> None:
    """Nearest valid codes for a column's non-conforming values."""
    rows = _svc(ctx).corrections(asset, column, standard=standard, domain=domain.split(",") if domain else None)
    _out(rows if as_json else [{**r, "candidates": ", ".join(r["candidates"])} for r in rows],
         ["value", "candidates", "reason"], "Correction candidates", as_json)


@suggest_app.command("merge")
def suggest_merge(ctx: typer.Context, threshold: float = 85.0, as_json: bool = AS_JSON) -> None:
    """Assets that look like the same data (names, columns), to merge."""
    rows = _svc(ctx).merge_suggestions(threshold=threshold)
    _out(rows if as_json else [{"assets": " ~ ".join(r["assets"]), "reasons": "; ".join(r["reasons"])} for r in rows],
         ["assets", "reasons"], "Merge suggestions", as_json)


@app.command("duplicates")
def duplicates(ctx: typer.Context, asset: str, record: str = typer.Option(..., help="the new record as JSON"),
               columns: str = typer.Option(..., help="comma-separated columns to compare"),
               block_on: str | None = None, prefix: int = 2, threshold: float = 85.0, as_json: bool = AS_JSON) -> None:
    """Likely duplicates of a new record (rapidfuzz, blocked on a key prefix)."""
    rows = _svc(ctx).duplicates(asset, _json(record, "--record"), columns.split(","), block_on=block_on,
                             prefix=prefix, threshold=threshold)
    _out(rows if as_json else [{"score": r["score"], "row": json.dumps(r["row"], ensure_ascii=False, default=str)}
                               for r in rows], ["score", "row"], "Likely duplicates", as_json)
