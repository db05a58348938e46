"""``govfabric token`` — personal access tokens for calling the API as yourself."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.auth import tokens
from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Personal access tokens (Authorization: Bearer …).", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    expires: str = typer.Option("30d", help="lifetime: 30d, 12h, 2w … or 'never'"),
    name: Optional[str] = typer.Option(None, help="what the token is for"),  # noqa: UP045
    as_json: bool = JSON_OPTION,
) -> None:
    """A token acting as you; printed once, stored only as a keyed digest."""
    lifetime = None if expires.strip().lower() == "never" else tokens.parse_duration(expires)
    token, info = tokens.create(get_fabric(ctx), name=name, expires=lifetime)
    if as_json:
        print_json({"id": info.id, "token": token, "expires_at": info.expires_at})
        return
    console.print(f"token {info.id} for {info.principal}, expires {info.expires_at or 'never'}:", highlight=False)
    console.print(token, highlight=False)
    console.print("it is shown only now; send it as `Authorization: Bearer <token>`")


@app.command("list")
def list_(ctx: typer.Context, everyone: bool = typer.Option(False, "--all", help="every principal's (admin)"),
          as_json: bool = JSON_OPTION) -> None:
    """Your tokens (never the tokens themselves)."""
    rows = [{"id": t.id, "principal": t.principal, "name": t.name, "created_at": t.created_at,
             "expires_at": t.expires_at, "revoked_at": t.revoked_at}
            for t in tokens.list_tokens(get_fabric(ctx), everyone=everyone)]
    print_table(rows, ["id", "principal", "name", "created_at", "expires_at", "revoked_at"], "Tokens", as_json)


@app.command("revoke")
def revoke(ctx: typer.Context, token_id: str) -> None:
    """Revoke a token: refused from the next request."""
    tokens.revoke(get_fabric(ctx), token_id)
    console.print(f"revoked token {token_id}")
