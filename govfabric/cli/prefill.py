"""``govfabric item`` — service items (事项) with form and material specs; ``govfabric prefill`` —
fill an item's form and materials for a consenting applicant, the applicant's history, 容缺
reminders. Specs are YAML (PyYAML's safe loader) or JSON files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table
from govfabric.errors import ValidationFailed
from govfabric.prefill.spec import load_document

item_app = typer.Typer(help="Service items (事项): form and material specs, versioned.", no_args_is_help=True)
prefill_app = typer.Typer(help="Form and material prefill for consenting applicants.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045
SPEC = typer.Option(..., "--spec", help="the item spec, a .yaml or .json file")


@item_app.command("create")
def item_create(ctx: typer.Context, spec: Path = SPEC) -> None:
    """Store a spec as the next version of its item (a steward); refused whole on any problem."""
    row = get_fabric(ctx).prefill.create(load_document(spec))
    console.print(f"item [bold]{escape(row.name)}[/bold] ({escape(row.title)}) version {row.version}, "
                  f"sha256 {row.sha256[:16]}…")


@item_app.command("validate")
def item_validate(ctx: typer.Context, spec: Path = SPEC) -> None:
    """Check a spec against the virtual catalog; lists every problem, writes nothing."""
    parsed, problems = get_fabric(ctx).prefill.validate(load_document(spec))
    if problems or parsed is None:
        raise ValidationFailed(f"{spec} is not a valid item spec", problems)
    console.print(f"{escape(str(spec))}: item {escape(parsed.name)} is valid ({len(parsed.fields)} fields, "
                  f"{len(parsed.materials)} materials); consent scope: {escape(', '.join(parsed.consent_scope()))}")


@item_app.command("list")
def item_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """The latest version of every item."""
    rows = [{"name": r.name, "title": r.title, "version": r.version, "principal": r.spec.get("principal"),
             "fields": len(r.spec.get("fields") or []), "materials": len(r.spec.get("materials") or []),
             "created_by": r.created_by} for r in get_fabric(ctx).prefill.list()]
    print_table(rows, ["name", "title", "version", "principal", "fields", "materials", "created_by"],
                "Service items", as_json)


@item_app.command("show")
def item_show(ctx: typer.Context, name: str, version: OptInt = typer.Option(None, "--version"),
              as_json: bool = JSON_OPTION) -> None:
    """An item's spec: form fields, materials, eligibility rules and scenarios."""
    d = get_fabric(ctx).prefill.describe(name, version)
    if as_json:
        print_json(d)
        return
    spec = d["spec"]
    console.print(f"[bold]{escape(d['name'])}[/bold] {escape(d['title'])} v{d['version']} — purpose "
                  f"{escape(spec.get('purpose') or d['title'])}, principal {escape(spec['principal'])}")
    print_table([{"name": f["name"], "label": f.get("label"), "component": f["component"],
                  "required": f.get("required", False), "shared": f.get("shared", False),
                  "department": f.get("department"),
                  "source": ".".join(str((f.get("source") or {}).get(k, "")) for k in ("table", "column"))
                  if f.get("source") else "", "editable": f.get("editable", True), "mask": f.get("mask", "none")}
                 for f in spec.get("fields") or []],
                ["name", "label", "component", "required", "shared", "department", "source", "editable", "mask"],
                "Form")
    print_table([{"name": m["name"], "label": m.get("label"), "channel": m["channel"],
                  "type": m.get("type", "original"),
                  "form": m.get("form", "electronic"), "copies": m.get("copies", 0),
                  "容缺 days": m.get("deferrable_days"), "licence type": m.get("licence_type")}
                 for m in spec.get("materials") or []],
                ["name", "label", "channel", "type", "form", "copies", "容缺 days", "licence type"], "Materials")


@prefill_app.command("run")
def prefill_run(ctx: typer.Context, item: str, applicant: str = typer.Option(..., "--applicant",
                help="resident ID number or unified social credit code"),
                scenario: OptStr = typer.Option(None, "--scenario"), as_json: bool = JSON_OPTION) -> None:
    """Fill ITEM's form and materials for the applicant (as the item's service principal)."""
    got = get_fabric(ctx).prefill.run(item, applicant, scenario=scenario)
    if as_json:
        print_json(got)
        return
    console.print(f"[bold]{escape(got['title'])}[/bold] (v{got['version']}, call {got['call_id']}, "
                  f"scenario {escape(got['scenario'] or '-')})")
    print_table([{"field": f["label"], "value": f["display"], "status": f["status"],
                  "from": _origin(f["provenance"]),
                  "editable": f["editable"], "reason": f["reason"] or ""} for f in got["fields"]],
                ["field", "value", "status", "from", "editable", "reason"], "Form")
    el = got["eligibility"]
    console.print("eligible" if el["eligible"] else "[red]not eligible[/red]: "
                  + escape("; ".join(r["reason"] for r in el["rules"] if r["reason"])))
    print_table([{"material": m["label"], "status": m["status"], "due": m.get("due") or "",
                  "licence": (m.get("licence") or {}).get("identifier", ""), "reason": m.get("reason") or ""}
                 for m in got["materials"]], ["material", "status", "due", "licence", "reason"], "Materials")


def _origin(p: dict | None) -> str:
    return f"{p['department'] or ''} {p['table']}".strip() if p else ""


@prefill_app.command("history")
def prefill_history(ctx: typer.Context, applicant: OptStr = typer.Option(
                    None, "--applicant", help="whose history (an applicant's own when left out)"),
                    as_json: bool = JSON_OPTION) -> None:
    """Who read which fields and licences of the applicant, and when (an applicant: only their own)."""
    rows = get_fabric(ctx).prefill.history(applicant)
    print_table([{**r, "fields": ", ".join(r["fields"]), "licences": ", ".join(r["licences"])} for r in rows]
                if not as_json else rows,
                ["at", "item", "version", "by", "principal", "fields", "licences", "status", "reason"],
                "Prefill history", as_json)


@prefill_app.command("reminders")
def prefill_reminders(ctx: typer.Context, applicant: OptStr = typer.Option(None, "--applicant"),
                      overdue: bool = typer.Option(False, "--overdue", help="only those past their due date"),
                      as_json: bool = JSON_OPTION) -> None:
    """容缺 materials still to hand in, earliest due first."""
    rows = get_fabric(ctx).prefill.pending(applicant_id=applicant, overdue_only=overdue)
    print_table(rows, ["id", "item", "material", "applicant", "due", "overdue"], "容缺 materials", as_json)


@prefill_app.command("submit")
def prefill_submit(ctx: typer.Context, pending_id: str) -> None:
    """Record a 容缺 material as handed in."""
    get_fabric(ctx).prefill.submit(pending_id)
    console.print(f"material {escape(pending_id)} handed in")
