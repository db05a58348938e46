"""`govfabric delta …`: Delta Sharing recipients (profile files), shares and tables."""

from __future__ import annotations

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Delta Sharing: recipients, profile files, shares and tables.", no_args_is_help=True)
recipient_app = typer.Typer(help="Recipients: bearer tokens acting as a principal.", no_args_is_help=True)
share_app = typer.Typer(help="Shares: named groups of schema.table.", no_args_is_help=True)
table_app = typer.Typer(help="Tables of shares, over virtual tables or views.", no_args_is_help=True)
app.add_typer(recipient_app, name="recipient")
app.add_typer(share_app, name="share")
app.add_typer(table_app, name="table")


@recipient_app.command("add")
def recipient_add(
    ctx: typer.Context,
    name: str,
    principal: str = typer.Option(..., "--principal", help="the principal the recipient acts as (grants apply)"),
    expires: str = typer.Option("30d", help="token lifetime: 30d, 12h, 2w … or 'never'"),
    endpoint: str = typer.Option("http://127.0.0.1:8000", help="the server's base URL as recipients reach it"),
    as_json: bool = JSON_OPTION,
) -> None:
    """A recipient and its profile file (mode 0600, under the export root; send it privately)."""
    from govfabric.auth.tokens import parse_duration
    from govfabric.sharing_modes.delta_sharing.service import PREFIX, recipient_dict

    lifetime = None if expires.strip().lower() == "never" else parse_duration(expires)
    rec, path = get_fabric(ctx).delta_sharing.add_recipient(name, principal, endpoint=endpoint.rstrip("/") + PREFIX,
                                                            expires=lifetime)
    if as_json:
        print_json(recipient_dict(rec) | {"profile": str(path)})
        return
    console.print(f"recipient {rec.name} acts as {rec.principal}; profile file {path}", highlight=False)


@recipient_app.command("list")
def recipient_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Recipients (never their tokens)."""
    from govfabric.sharing_modes.delta_sharing.service import recipient_dict

    rows = [recipient_dict(r) for r in get_fabric(ctx).delta_sharing.recipients()]
    print_table(rows, ["name", "principal", "created_at", "expires_at", "revoked_at"], "Recipients", as_json)


@recipient_app.command("revoke")
def recipient_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a recipient: its token and outstanding file URLs are refused from now on."""
    get_fabric(ctx).delta_sharing.revoke_recipient(name)
    console.print(f"revoked recipient {name}")


@share_app.command("create")
def share_create(ctx: typer.Context, name: str) -> None:
    """A new, empty share."""
    get_fabric(ctx).delta_sharing.create_share(name)
    console.print(f"created share {name}")


@share_app.command("list")
def share_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Shares and their tables."""
    rows = [{"table": f"{t.share}.{t.schema_name}.{t.name}", "source": t.source, "version": t.version}
            for t in get_fabric(ctx).delta_sharing.share_tables()]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["table", "source", "version"], "Shared tables")


@table_app.command("add")
def table_add(ctx: typer.Context,
              name: str = typer.Argument(..., help="share.schema.table"),
              source: str = typer.Option(..., "--from", help="virtual table or view, e.g. market.enterprise")) -> None:
    """Share a virtual table or view as share.schema.table."""
    row = get_fabric(ctx).delta_sharing.add_table(name, source)
    console.print(f"shared {source} as {row.share}.{row.schema_name}.{row.name}")
