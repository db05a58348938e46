"""``govfabric standards`` — data elements, naming rules, column mappings, conformance checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table
from govfabric.governance.security.sample import DEFAULT_SAMPLE
from govfabric.governance.standards.elements import parse_code_list

if TYPE_CHECKING:
    from govfabric.governance.standards.service import StandardsService

app = typer.Typer(help="Data standards: data elements (数据元), naming rules, conformance (§8.4.4.1).",
                  no_args_is_help=True)
elements_app = typer.Typer(help="The data-element registry.", no_args_is_help=True)
rules_app = typer.Typer(help="Naming rules for table and column names.", no_args_is_help=True)
app.add_typer(elements_app, name="elements")
app.add_typer(rules_app, name="rules")
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045


def _service(ctx: typer.Context) -> StandardsService:
    return get_fabric(ctx).standards


def _list(value: str | None) -> list[str]:
    return [w.strip() for w in (value or "").replace("，", ",").split(",") if w.strip()]


@elements_app.command("list")
def elements_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Registered data elements (defaults included)."""
    rows = [{"identifier": e.identifier, "cn_name": e.cn_name, "name": e.name, "type": e.data_type,
             "format": e.format, "codes": len(e.code_list or {}) or None, "validator": e.validator,
             "standard": e.standard, "definition": e.definition, "code_list": e.code_list,
             "keywords": e.keywords} for e in _service(ctx).elements()]
    print_table(rows, ["identifier", "cn_name", "type", "format", "codes", "validator", "standard"],
                "Data elements", as_json)


@elements_app.command("add")
def elements_add(ctx: typer.Context, identifier: str, name: str = typer.Option(...),
                 cn_name: str = typer.Option(..., "--cn-name"),
                 data_type: str = typer.Option("string", "--type", help="string|integer|decimal|date|datetime|"
                                               "boolean|code"),
                 definition: str = typer.Option(""), format: OptStr = typer.Option(None, help="regex for the value"),
                 codes: OptStr = typer.Option(None, help="code list: CODE=MEANING,…"),
                 validator: OptStr = typer.Option(None, help="resident_id|uscc|division|mobile|email|date"),
                 keywords: OptStr = typer.Option(None, help="column names that suggest it, comma-separated"),
                 standard: OptStr = typer.Option(None, help="the standard it comes from"),
                 replace: bool = typer.Option(False, "--replace")) -> None:
    """Define (or with --replace redefine) a data element."""
    el = _service(ctx).add_element(identifier, name=name, cn_name=cn_name, data_type=data_type,
                                   definition=definition, format=format, code_list=parse_code_list(codes),
                                   validator=validator, keywords=_list(keywords), standard=standard,
                                   replace=replace)
    console.print(f"data element {escape(el.identifier)} ({escape(el.cn_name)}) saved")


@rules_app.command("list")
def rules_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Naming rules for tables and columns."""
    rows = [{"name": r.name, "applies_to": r.applies_to, "kind": r.kind, "pattern": r.pattern,
             "words": r.words, "max_length": r.max_length, "enabled": r.enabled, "description": r.description}
            for r in _service(ctx).rules()]
    print_table(rows, ["name", "applies_to", "kind", "pattern", "max_length", "enabled", "description"],
                "Naming rules", as_json)


@rules_app.command("add")
def rules_add(ctx: typer.Context, name: str,
              applies_to: str = typer.Option(..., "--applies-to", help="table | column"),
              kind: str = typer.Option("pattern", help="pattern | forbidden_words | max_length"),
              pattern: OptStr = typer.Option(None, help="regex the name must match (searched)"),
              words: OptStr = typer.Option(None, help="forbidden names, comma-separated"),
              max_length: OptInt = typer.Option(None, "--max-length"), description: str = typer.Option(""),
              disabled: bool = typer.Option(False, "--disabled"), replace: bool = typer.Option(False, "--replace")
              ) -> None:
    """Add (or with --replace change) a naming rule."""
    r = _service(ctx).add_rule(name, applies_to, kind, pattern=pattern, words=_list(words), max_length=max_length,
                               description=description, enabled=not disabled, replace=replace)
    console.print(f"naming rule {escape(r.name)} saved")


@app.command("suggest")
def suggest(ctx: typer.Context, asset: str, sample: int = typer.Option(DEFAULT_SAMPLE),
            dry_run: bool = typer.Option(False, "--dry-run", help="show, do not save"),
            as_json: bool = JSON_OPTION) -> None:
    """Suggest a data element for each column from its names and sampled values."""
    rows = [s.__dict__ for s in _service(ctx).suggest(asset, sample=sample, save=not dry_run)]
    print_table(rows, ["column", "element", "confidence", "evidence"], f"Suggestions for {asset}", as_json)


@app.command("map")
def map_(ctx: typer.Context, column: str = typer.Argument(..., help="ASSET.COLUMN"), element: str = typer.Argument(...)
         ) -> None:
    """Confirm a column's data element."""
    m = _service(ctx).map(column, element)
    console.print(f"{escape(m.asset_name)}.{escape(m.column_name)} → {escape(m.element)} (confirmed)")


@app.command("mappings")
def mappings(ctx: typer.Context, asset: OptStr = typer.Argument(None), as_json: bool = JSON_OPTION) -> None:
    """Column → data element mappings, suggested and confirmed."""
    rows = [{k: getattr(m, k) for k in ("asset_name", "column_name", "element", "status", "confidence", "evidence")}
            for m in _service(ctx).mappings(asset)]
    print_table(rows, ["asset_name", "column_name", "element", "status", "confidence", "evidence"], "Mappings",
                as_json)


@app.command("check")
def check(ctx: typer.Context, asset: str, sample: int = typer.Option(DEFAULT_SAMPLE),
          as_json: bool = JSON_OPTION) -> None:
    """Naming-rule breaches and non-conforming sampled values, with a conformance score."""
    r = _service(ctx).check(asset, sample=sample)
    if as_json:
        print_json(r.as_dict())
        return
    console.print(f"[bold]{escape(r.asset)}[/bold]: conformance {r.score}% over {r.checks} checks "
                  f"({len(r.violations)} violation(s), {r.sampled} rows sampled)")
    print_table([v.__dict__ for v in r.violations], ["kind", "target", "rule", "message"], "Violations")
