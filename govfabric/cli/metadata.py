"""``govfabric metadata`` — glossary, indicators, rules, technical records, search, asset view (§8.4.4.2)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table
from govfabric.errors import ValidationFailed

app = typer.Typer(help="Business and technical metadata linked to assets.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)


def _svc(ctx: typer.Context):
    return get_fabric(ctx).metadata


@app.command("term")
def term(ctx: typer.Context, name: str, definition: str = typer.Option(..., "--definition"),
         cn_name: OptStr = typer.Option(None, "--cn"), synonym: list[str] = typer.Option(None, "--synonym"),
         steward: OptStr = typer.Option(None, "--steward")) -> None:
    """Define a glossary term."""
    _svc(ctx).add_term(name, definition, cn_name=cn_name, synonyms=synonym, steward=steward)
    console.print(f"term {name} defined")


@app.command("indicator")
def indicator(ctx: typer.Context, name: str, formula: str = typer.Option(..., "--formula"),
              caliber: str = typer.Option(..., "--caliber", help="口径"), cn_name: OptStr = typer.Option(None, "--cn"),
              unit: OptStr = typer.Option(None), dimension: list[str] = typer.Option(None, "--dimension")) -> None:
    """Define an indicator with its formula and caliber."""
    _svc(ctx).add_indicator(name, formula, caliber, cn_name=cn_name, unit=unit, dimensions=dimension)
    console.print(f"indicator {name} defined")


@app.command("rule")
def rule(ctx: typer.Context, name: str, description: str = typer.Option(..., "--description"),
         expression: OptStr = typer.Option(None, "--expression")) -> None:
    """Define a business rule."""
    _svc(ctx).add_rule(name, description, expression)
    console.print(f"rule {name} defined")


@app.command("list")
def list_items(ctx: typer.Context, kind: str = typer.Argument("term", help="term | indicator | rule"),
               as_json: bool = JSON_OPTION) -> None:
    """Business terms, indicators or rules."""
    rows = _svc(ctx).items(kind)
    print_table(rows, [c for c in ("name", "cn_name", "definition", "formula", "caliber", "description")
                       if rows and c in rows[0]] or ["name"], f"{kind}s", as_json)


@app.command("link")
def link(ctx: typer.Context, asset: str, column: OptStr = typer.Option(None, "--column"),
         term: list[str] = typer.Option(None, "--term"), indicator: list[str] = typer.Option(None, "--indicator"),
         rule: list[str] = typer.Option(None, "--rule")) -> None:
    """Link terms, indicators or rules to an asset or one of its columns (all or nothing)."""
    made = _svc(ctx).link(asset, terms=term, indicators=indicator, rules=rule, column=column)
    console.print(f"{len(made)} link(s) added")


@app.command("technical")
def technical(ctx: typer.Context, kind: str, name: str,
              body: str = typer.Option(..., "--body", help="JSON object of the record's fields"),
              asset: OptStr = typer.Option(None, "--asset"), replace: bool = typer.Option(False, "--replace")) -> None:
    """Record technical metadata: schema, model, program, interface, packaging or application."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"--body is not JSON: {exc}") from None
    _svc(ctx).add_technical(kind, name, data, asset=asset, replace=replace)
    console.print(f"{kind} record {name} saved")


@app.command("search")
def search(ctx: typer.Context, query: str, limit: int = 20, as_json: bool = JSON_OPTION) -> None:
    """Search assets (catalog search) and the glossary, indicators and rules."""
    res = _svc(ctx).search(query, limit=limit)
    if as_json:
        print_json(res)
        return
    print_table(res["assets"], ["qualified_name", "cn_name", "score"], "Assets")
    for kind in ("terms", "indicators", "rules"):
        if res[kind]:
            print_table(res[kind], ["name", "cn_name", "linked"], kind.capitalize())


@app.command("show")
def show(ctx: typer.Context, asset: str,
         as_json: bool = typer.Option(True, "--json", help="print JSON (the only format; accepted for symmetry)")
         ) -> None:
    """An asset's composition, structure and data flow (JSON)."""
    print_json(_svc(ctx).asset_view(asset))
