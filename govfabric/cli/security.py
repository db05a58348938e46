"""``govfabric security`` — PII scans, classifications, default masks and consent records."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table, progress_bar
from govfabric.errors import ValidationFailed
from govfabric.governance.security.sample import DEFAULT_SAMPLE

if TYPE_CHECKING:
    from govfabric.governance.security.service import SecurityService

app = typer.Typer(help="Personal data: PII detection, sensitivity, default masking, consent (§8.4.4.4).",
                  no_args_is_help=True)
consent_app = typer.Typer(help="Consent records of data subjects (GB/T 35273 §7.2.5).", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptDate = Optional[datetime]  # noqa: UP045

COLUMNS = ["asset_name", "column_name", "pii_class", "personal_level", "data_level", "confidence", "status",
           "evidence"]


def _service(ctx: typer.Context) -> SecurityService:
    return get_fabric(ctx).security


def _row(r: object) -> dict[str, object]:
    return {k: getattr(r, k) for k in ("asset_name", "column_name", "pii_class", "personal_level", "data_level",
                                       "confidence", "evidence", "method", "sampled", "status", "confirmed_by")}


def _scope(value: str) -> list[str]:
    return [s.strip() for s in value.replace("，", ",").split(",") if s.strip()]


@app.command("scan")
def scan(ctx: typer.Context, asset: OptStr = typer.Argument(None, help="catalog asset to scan"),
         source: OptStr = typer.Option(None, "--source", help="scan every asset of this source"),
         all_: bool = typer.Option(False, "--all", help="scan every asset of the catalog"),
         sample: int = typer.Option(DEFAULT_SAMPLE, help="rows to sample per asset (LIMIT, never a full scan)"),
         no_mask: bool = typer.Option(False, "--no-mask", help="classify only; do not set default masks"),
         pii_only: bool = typer.Option(False, "--pii-only", help="show only columns holding personal data"),
         as_json: bool = JSON_OPTION) -> None:
    """Classify columns from their names and a bounded sample of values; mask personal columns."""
    if sum(x is not None and x is not False for x in (asset, source, all_ or None)) != 1:
        raise ValidationFailed("say what to scan: an ASSET, --source NAME or --all (exactly one)")
    svc = _service(ctx)
    if asset:
        found = {asset: svc.scan(asset, sample=sample, mask=not no_mask)}
    else:
        with progress_bar("scanning", enabled=not as_json) as update:
            found = svc.scan_source(source, sample=sample, mask=not no_mask, progress=update) if source \
                else svc.scan_all(sample=sample, mask=not no_mask, progress=update)
    rows = [_row(r) for rs in found.values() for r in rs if r.pii_class or not pii_only]
    print_table(rows, COLUMNS, f"PII scan of {len(found)} asset(s)", as_json)


@app.command("list")
def list_(ctx: typer.Context, asset: OptStr = typer.Argument(None),
          pii_class: OptStr = typer.Option(None, "--class", help="only this PII class"),
          all_: bool = typer.Option(False, "--all", help="include columns without personal data"),
          as_json: bool = JSON_OPTION) -> None:
    """Stored classifications (personal columns by default)."""
    rows = _service(ctx).classifications(asset, pii_only=not all_, pii_class=pii_class)
    print_table([_row(r) for r in rows], COLUMNS, "Column classifications", as_json)


@app.command("confirm")
def confirm(ctx: typer.Context, column: str = typer.Argument(..., help="ASSET.COLUMN"),
            pii_class: str = typer.Argument(..., help="PII class, or 'none' for not personal data"),
            data_level: OptStr = typer.Option(None, help="general | important | core"),
            personal_level: OptStr = typer.Option(None, help="none | personal | sensitive"),
            note: OptStr = typer.Option(None), no_mask: bool = typer.Option(False, "--no-mask"),
            as_json: bool = JSON_OPTION) -> None:
    """Confirm or override one column's classification (a re-scan keeps it)."""
    r = _service(ctx).confirm(column, pii_class, data_level=data_level, personal_level=personal_level, note=note,
                              mask=not no_mask)
    if as_json:
        print_json(_row(r))
    else:
        console.print(f"{escape(r.asset_name)}.{escape(r.column_name)}: {r.pii_class or 'not personal data'} "
                      f"({r.personal_level}, {r.data_level}), confirmed by {r.confirmed_by}")


@app.command("mask-defaults")
def mask_defaults(ctx: typer.Context, vt: OptStr = typer.Argument(None, help="one virtual table (default all)"),
                  as_json: bool = JSON_OPTION) -> None:
    """Mask classified personal columns of virtual tables (idempotent)."""
    acts = _service(ctx).mask_defaults(vt)
    print_table([a.__dict__ for a in acts], ["table", "column", "pii_class", "rule", "action", "reason"],
                "Default masks", as_json)


@consent_app.command("give")
def consent_give(ctx: typer.Context, subject: str = typer.Argument(..., help="resident ID (or credit code)"),
                 purpose: str = typer.Option(...), scope: str = typer.Option(..., help="data items, comma-separated"),
                 grantee: str = typer.Option(..., help="business system or department"),
                 expires: OptDate = typer.Option(None, formats=["%Y-%m-%d"], help="YYYY-MM-DD"),
                 channel: OptStr = typer.Option(None), as_json: bool = JSON_OPTION) -> None:
    """Record a subject's consent; only a keyed hash of the subject is stored."""
    r = _service(ctx).consent.give(subject, purpose, _scope(scope), grantee,
                                   expires=expires.date() if expires else None, channel=channel)
    if as_json:
        print_json({"id": r.id, "purpose": r.purpose, "scope": r.scope, "grantee": r.grantee,
                    "expires_at": r.expires_at})
    else:
        console.print(f"consent {r.id} recorded")


@consent_app.command("withdraw")
def consent_withdraw(ctx: typer.Context, consent_id: OptStr = typer.Argument(None),
                     subject: OptStr = typer.Option(None, help="withdraw every consent of this subject"),
                     purpose: OptStr = typer.Option(None), grantee: OptStr = typer.Option(None)) -> None:
    """Withdraw a consent (by id, or by subject and optionally purpose/grantee)."""
    rows = _service(ctx).consent.withdraw(consent_id, subject_id=subject, purpose=purpose, grantee=grantee)
    console.print(f"withdrew {len(rows)} consent(s): {', '.join(r.id for r in rows)}")


@consent_app.command("check")
def consent_check(ctx: typer.Context, subject: str, purpose: str = typer.Option(...),
                  scope: str = typer.Option(...), grantee: str = typer.Option(...),
                  as_json: bool = JSON_OPTION) -> None:
    """Whether a consent in force covers the data items; exits 1 when it does not."""
    d = _service(ctx).consent.check(subject, purpose, _scope(scope), grantee)
    if as_json:
        print_json(d.as_dict())
    else:
        console.print(f"{'[green]allowed[/green]' if d.allowed else '[red]refused[/red]'}: {escape(d.reason)} "
                      f"(audit #{d.trace})")
    if not d.allowed:
        raise typer.Exit(1)


@consent_app.command("list")
def consent_list(ctx: typer.Context, subject: OptStr = typer.Option(None), grantee: OptStr = typer.Option(None),
                 in_force: bool = typer.Option(False, "--in-force"), as_json: bool = JSON_OPTION) -> None:
    """Consent records (subjects appear only as hash prefixes)."""
    rows = _service(ctx).consent.records(subject, grantee=grantee, in_force_only=in_force)
    print_table([{"id": r.id, "subject": r.subject_hash[:16], "purpose": r.purpose, "scope": r.scope,
                  "grantee": r.grantee, "status": r.status, "given_at": r.given_at, "expires_at": r.expires_at,
                  "withdrawn_at": r.withdrawn_at} for r in rows],
                ["id", "subject", "purpose", "scope", "grantee", "status", "given_at", "expires_at"],
                "Consents", as_json)
