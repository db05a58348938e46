"""``govfabric licence`` — the e-licence library (§9.5.2): import, list, show, verify, revoke, anchor."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="The e-licence library: licences with their files, by holder.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
ITEM = typer.Option(None, "--item", help="the service item a service principal reads for (the holder's consent)")


@app.command("import")
def licence_import(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="an .xml or .csv file (UTF-8 or GB18030) of licences"),
    files: OptStr = typer.Option(None, "--files", help="folder holding the licence files the records name"),
    department: OptStr = typer.Option(None, "--department", help="issuing department (default: yours)"),
) -> None:
    """Import licences, all or nothing (a steward of the issuing department, or an admin)."""
    r = get_fabric(ctx).licences.import_file(file, files=files, department=department)
    extra = f"; {r.completed_check_chars} identifier(s) completed with their check character" \
        if r.completed_check_chars else ""
    console.print(f"imported {r.imported} licence(s), {r.files} with a file{extra}")


@app.command("list")
def licence_list(ctx: typer.Context, holder: str = typer.Option(..., "--holder", help="credit code or resident ID"),
                 item: OptStr = ITEM, as_json: bool = JSON_OPTION) -> None:
    """A holder's licences you may read (the holder, the issuing department's stewards, auditors, a
    consented item's service principal); the read is audited."""
    views = get_fabric(ctx).licences.for_holder(holder, item=item)
    rows = [{"id": v.id, "identifier": v.identifier, "type": v.type_name, "holder": v.holder_name,
             "authority": v.authority, "issued_on": v.issued_on, "valid_until": v.valid_until or "长期",
             "status": v.status, "file": v.file_name or ""} for v in views]
    print_table(rows, ["id", "type", "identifier", "status", "issued_on", "valid_until", "file"],
                f"Licences of {escape(holder)}", as_json)


@app.command("show")
def licence_show(ctx: typer.Context, licence: str = typer.Argument(..., help="id or identifier"),
                 item: OptStr = ITEM, as_json: bool = JSON_OPTION) -> None:
    """Everything recorded about one licence."""
    d = get_fabric(ctx).licences.describe(licence, item=item)
    if as_json:
        print_json(d)
        return
    for key, value in d.items():
        console.print(f"[bold]{key}[/bold]: {escape(str(value if value is not None else '-'))}")


@app.command("verify")
def licence_verify(ctx: typer.Context, licence: str = typer.Argument(..., help="id or identifier"),
                   item: OptStr = ITEM, as_json: bool = JSON_OPTION) -> None:
    """File digest, status, validity, identifier and holder checks; exits 1 when one fails."""
    v = get_fabric(ctx).licences.verify(licence, item=item)
    if as_json:
        print_json({"licence": v.licence_id, "ok": v.ok, "reasons": v.reasons, "checked_at": v.checked_at})
    elif v.ok:
        console.print(f"licence {escape(v.licence_id)}: [green]verified[/green] (file digests, status, validity, "
                      "identifier and holder all check)")
    else:
        console.print(f"licence {escape(v.licence_id)}: [red]NOT verified[/red]")
        for r in v.reasons:
            console.print(f"  - {escape(r)}")
    if not v.ok:
        raise typer.Exit(1)


@app.command("revoke")
def licence_revoke(ctx: typer.Context, licence: str = typer.Argument(..., help="id or identifier"),
                   reason: str = typer.Option(..., "--reason", help="why (kept with the licence)")) -> None:
    """Revoke a licence (a steward of its department, or an admin)."""
    v = get_fabric(ctx).licences.revoke(licence, reason)
    console.print(f"licence {escape(v.identifier)} revoked")


@app.command("anchor")
def licence_anchor(ctx: typer.Context, licence: str = typer.Argument(..., help="id or identifier")) -> None:
    """Anchor the licence file's SHA-256 on the chain (kind ``licence``)."""
    r = get_fabric(ctx).licences.anchor(licence)
    console.print(f"licence {escape(r['licence'])} anchored: anchor {escape(str(r['anchor']))}, "
                  f"tx {escape(str(r['tx_hash']))}")
