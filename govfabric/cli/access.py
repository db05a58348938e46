"""``govfabric access`` (apply → approve → grant) and ``govfabric policy`` (masks, row filters)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, parse_json, print_table
from govfabric.virtualization.masks import MASKS

access_app = typer.Typer(help="Access requests and grants (default deny).", no_args_is_help=True)
policy_app = typer.Typer(help="Column masks and row filters.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptDate = Optional[datetime]  # noqa: UP045


def _cols(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _grant_row(g: object) -> dict[str, object]:
    return {k: getattr(g, k) for k in ("id", "grantee", "table_name", "columns", "unmasked", "row_filter",
                                       "expires_at", "granted_by", "request_id", "revoked_at")}


@access_app.command("request")
def request(ctx: typer.Context, table: str,
            columns: OptStr = typer.Option(None, help="comma-separated; default all"),
            purpose: str = typer.Option(..., help="what the data is for"),
            until: OptDate = typer.Option(None, formats=["%Y-%m-%d"], help="until this day (YYYY-MM-DD)")) -> None:
    """Apply for access to a virtual table."""
    r = get_fabric(ctx).access.request(table, columns=_cols(columns), purpose=purpose, until=_day(until))
    console.print(f"request [bold]{r.id}[/bold] for {r.table_name} is pending approval")


@access_app.command("approve")
def approve(ctx: typer.Context, request_id: int,
            row_filter: OptStr = typer.Option(None, "--row-filter", help="limit rows, e.g. district = '朝阳区'"),
            until: OptDate = typer.Option(None, formats=["%Y-%m-%d"]), reason: OptStr = typer.Option(None)) -> None:
    """Approve a request (owner department's steward or admin): creates the grant."""
    g = get_fabric(ctx).access.approve(request_id, row_filter=row_filter, until=_day(until), reason=reason)
    console.print(f"approved request {request_id}: grant {g.id} to {g.grantee} on {g.table_name}")


@access_app.command("reject")
def reject(ctx: typer.Context, request_id: int, reason: str = typer.Option(..., help="told to the requester")) -> None:
    """Reject a request, with a reason."""
    get_fabric(ctx).access.reject(request_id, reason)
    console.print(f"rejected request {request_id}")


@access_app.command("requests")
def requests(ctx: typer.Context, status: OptStr = typer.Option(None, help="pending | approved | rejected"),
             mine: bool = typer.Option(False, "--mine"), as_json: bool = JSON_OPTION) -> None:
    """Access requests."""
    rows = [{k: getattr(r, k) for k in ("id", "requester", "table_name", "columns", "purpose", "until", "status",
                                         "decided_by", "reason", "grant_id")}
            for r in get_fabric(ctx).access.requests(status, mine)]
    print_table(rows, ["id", "requester", "table_name", "columns", "purpose", "until", "status", "decided_by",
                       "reason"], "Access requests", as_json)


@access_app.command("grant")
def grant(ctx: typer.Context, table: str, to: str = typer.Option(..., "--to", help="principal, or role:NAME"),
          columns: OptStr = typer.Option(None), row_filter: OptStr = typer.Option(None, "--row-filter"),
          unmasked: OptStr = typer.Option(None, help="columns this grantee sees unmasked"),
          until: OptDate = typer.Option(None, formats=["%Y-%m-%d"]), purpose: OptStr = typer.Option(None)) -> None:
    """Grant access directly (stewards)."""
    g = get_fabric(ctx).access.grant(to, table, columns=_cols(columns), row_filter=row_filter,
                                     unmasked=_cols(unmasked), until=_day(until), purpose=purpose)
    console.print(f"grant {g.id}: {g.grantee} may read {g.table_name}")


@access_app.command("revoke")
def revoke(ctx: typer.Context, grant_id: int, reason: OptStr = typer.Option(None)) -> None:
    """Revoke a grant; takes effect on the grantee's next query."""
    get_fabric(ctx).access.revoke(grant_id, reason)
    console.print(f"revoked grant {grant_id}")


@access_app.command("list")
def list_(ctx: typer.Context, table: OptStr = typer.Option(None), grantee: OptStr = typer.Option(None),
          all_: bool = typer.Option(False, "--all", help="include revoked and expired"),
          as_json: bool = JSON_OPTION) -> None:
    """Active grants."""
    rows = [_grant_row(g) for g in get_fabric(ctx).access.grants(table, grantee, all_)]
    print_table(rows, ["id", "grantee", "table_name", "columns", "unmasked", "row_filter", "expires_at",
                       "revoked_at"], "Grants", as_json)


@policy_app.command("mask")
def mask(ctx: typer.Context, target: str = typer.Argument(..., help="schema.table.column"),
         rule: str = typer.Argument(..., help=f"one of: {', '.join(sorted(MASKS))}"),
         params: OptStr = typer.Option(None, help='JSON parameters, e.g. \'{"first": 2}\'')) -> None:
    """Mask a column for everyone not explicitly granted it unmasked."""
    table, _, column = target.rpartition(".")
    m = get_fabric(ctx).access.set_mask(table, column, rule, parse_json(params, "--params") if params else None)
    console.print(f"{m.table_name}.{m.column_name} masked with {m.rule}")


@policy_app.command("unmask")
def unmask(ctx: typer.Context, target: str) -> None:
    """Remove a column's mask (schema.table.column)."""
    table, _, column = target.rpartition(".")
    get_fabric(ctx).access.remove_mask(table, column)
    console.print(f"mask removed from {target}")


@policy_app.command("row-filter")
def row_filter(ctx: typer.Context, table: str, expr: str,
               to: str = typer.Option(..., "--to", help="principal, role:NAME, or * for everyone")) -> None:
    """Add a row filter that every query of WHO on TABLE must satisfy."""
    p = get_fabric(ctx).access.add_row_filter(table, to, expr)
    console.print(f"row filter {p.id} on {p.table_name} for {p.applies_to}: {p.expr}")


@policy_app.command("row-filter-remove")
def row_filter_remove(ctx: typer.Context, filter_id: int = typer.Argument(..., help="id from `policy list --json`")
                      ) -> None:
    """Remove a row filter (owning department's steward or admin)."""
    get_fabric(ctx).access.remove_row_filter(filter_id)
    console.print(f"row filter {filter_id} removed")


@policy_app.command("list")
def policies(ctx: typer.Context, table: OptStr = typer.Option(None), as_json: bool = JSON_OPTION) -> None:
    """Masks and row filters."""
    f = get_fabric(ctx)
    rows = [{"id": "", "kind": "mask", "table": m.table_name, "column": m.column_name, "rule": m.rule, "to": "*",
             "expr": json.dumps(m.params, ensure_ascii=False) if m.params else ""} for m in f.access.masks(table)]
    rows += [{"id": p.id, "kind": "row filter", "table": p.table_name, "column": "", "rule": "", "to": p.applies_to,
              "expr": p.expr} for p in f.access.row_filters(table)]
    print_table(rows, ["id", "kind", "table", "column", "rule", "to", "expr"], "Policies", as_json)
