"""``govfabric app`` — business systems (业务系统) that call the API with signed requests."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.auth import apps
from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Business systems calling the API with signed requests (RFC 9421).", no_args_is_help=True)


def _show_secret(issued: apps.Issued, as_json: bool, verb: str) -> None:
    if as_json:
        print_json({"name": issued.name, "app_id": issued.key_id, "secret": issued.secret, "alg": issued.alg})
        return
    console.print(f"{verb} app [bold]{issued.name}[/bold]")
    console.print(f"  app id: {issued.key_id}", highlight=False)
    console.print(f"  secret: {issued.secret}", highlight=False)
    console.print(f"  alg:    {issued.alg}", highlight=False)
    console.print("the secret is shown only now: hand it to the business system over a safe channel")


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    department: str = typer.Option(..., help="department (部门) the business system belongs to"),
    alg: str = typer.Option("hmac-sha256", help=" | ".join(apps.ALGORITHMS)),
    display_name: Optional[str] = typer.Option(None, "--display-name"),  # noqa: UP045
    rate_limit: Optional[str] = typer.Option(None, help="this app's rate limit, e.g. 50/second"),  # noqa: UP045
    daily_quota: Optional[str] = typer.Option(None, help="this app's daily quota, e.g. 100000/day"),  # noqa: UP045
    as_json: bool = JSON_OPTION,
) -> None:
    """Add an app (admin, or steward of its department); prints its app id and secret once."""
    _show_secret(apps.add(get_fabric(ctx), name, department=department, alg=alg, display_name=display_name,
                          rate_limit=rate_limit, daily_quota=daily_quota), as_json, "added")


@app.command("rotate")
def rotate(ctx: typer.Context, name: str, as_json: bool = JSON_OPTION) -> None:
    """A new app id and secret; the old ones stop working at once."""
    _show_secret(apps.rotate(get_fabric(ctx), name), as_json, "rotated")


@app.command("disable")
def disable(ctx: typer.Context, name: str) -> None:
    """Refuse the app's signed requests and its principal's tokens (401 app_disabled) until enabled again."""
    apps.set_active(get_fabric(ctx), name, False)
    console.print(f"disabled app {name}")


@app.command("enable")
def enable(ctx: typer.Context, name: str) -> None:
    """Accept a disabled app's signed requests again."""
    apps.set_active(get_fabric(ctx), name, True)
    console.print(f"enabled app {name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Apps you manage (never their secrets)."""
    rows = [{"name": a.name, "app_id": a.key_id, "alg": a.alg, "department": a.department, "active": a.active,
             "created_at": a.created_at, "rotated_at": a.rotated_at} for a in apps.list_apps(get_fabric(ctx))]
    print_table(rows, ["name", "app_id", "alg", "department", "active", "created_at", "rotated_at"], "Apps",
                as_json)
