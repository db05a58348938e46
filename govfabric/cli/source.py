"""``govfabric source`` — register departments' systems and files where they are."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Data sources: databases and file folders, read in place.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="short name, e.g. mr_db"),
    uri: str = typer.Argument(..., help="postgresql://user[:pw]@host:port/db, mysql://…, sqlite:///file.db, "
                                        "duckdb:///file.duckdb, or a file/folder path"),
    password_env: Optional[str] = typer.Option(  # noqa: UP045
        None, "--password-env", help="read the password from this environment variable when connecting"),
    department: Optional[str] = typer.Option(None, help="owning department (归属部门)"),  # noqa: UP045
    description: Optional[str] = typer.Option(None),  # noqa: UP045
    signature: str = typer.Option("sha256", help="content signature algorithm for files: sha256 | sm3"),
    replace: bool = typer.Option(False, "--replace", help="change an existing registration"),
) -> None:
    """Register a source. A password in the URI is sealed with the workspace key, never stored in plain text."""
    src = get_fabric(ctx).catalog.add_source(name, uri, password_env=password_env, department=department,
                                             description=description, replace=replace,
                                             options={"signature_algo": signature})
    console.print(f"registered source [bold]{src.name}[/bold] ({src.kind}) {src.uri}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List registered sources (passwords never shown)."""
    from govfabric.auth.secrets import redact

    # redact: a source registered before query-string passwords were cut out may still hold one
    rows = [{"name": s.name, "kind": s.kind, "uri": redact(s.uri), "department": s.department,
             "password": ("env " + s.secret[4:]) if s.secret and s.secret.startswith("env:")
             else ("sealed" if s.secret else ""), "last_harvest_at": s.last_harvest_at}
            for s in get_fabric(ctx).catalog.sources()]
    print_table(rows, ["name", "kind", "uri", "department", "password", "last_harvest_at"], "Sources", as_json)


@app.command("test")
def test(ctx: typer.Context, name: str, as_json: bool = JSON_OPTION) -> None:
    """Connect to a source and read its structure; a clear error if it is unreachable."""
    check = get_fabric(ctx).catalog.test_source(name)
    if as_json:
        print_json(check)
    else:
        console.print(f"[green]ok[/green] {check.name}: {check.message} in {check.latency_ms:.0f} ms")


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the source to unregister"),
    cascade: bool = typer.Option(False, "--cascade",
                                 help="also remove its assets and drop the virtual tables over them (with grants)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Unregister a source; refused while assets or virtual tables use it, unless --cascade."""
    gone = get_fabric(ctx).catalog.remove_source(name, cascade=cascade)
    if as_json:
        print_json({"source": name, **gone})
        return
    console.print(f"removed source [bold]{name}[/bold]")
    for what, items in gone.items():
        if items:
            console.print(f"  {what.replace('_', ' ')} removed: {', '.join(items)}")
