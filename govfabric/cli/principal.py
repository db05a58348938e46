"""``govfabric principal`` — people, applications and business systems, and their roles."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.auth.principals import ROLES
from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_table

app = typer.Typer(help="Principals (people, applications, business systems) and their roles.",
                  no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    role: list[str] = typer.Option(..., "--role", "-r", help=f"one of: {', '.join(ROLES)}"),
    kind: str = typer.Option("person", help="person | application | business_system"),
    department: Optional[str] = typer.Option(None, help="department (部门) the principal belongs to"),  # noqa: UP045
    display_name: Optional[str] = typer.Option(None, "--display-name"),  # noqa: UP045
    attr: list[str] = typer.Option([], "--attr", help="attribute key=value, e.g. region=110105"),
) -> None:
    """Add a principal (admin only)."""
    attributes = dict(a.split("=", 1) for a in attr if "=" in a)
    p = get_fabric(ctx).add_principal(name, list(role), kind=kind, department=department,
                                      display_name=display_name, attributes=attributes)
    console.print(f"added principal [bold]{p.name}[/bold] with roles {', '.join(p.roles)}")


@app.command("set-role")
def set_role(ctx: typer.Context, name: str,
             role: list[str] = typer.Argument(..., help=f"the new roles, each one of: {', '.join(ROLES)}")) -> None:
    """Replace a principal's roles (admin only); open sessions act with them from their next call."""
    p = get_fabric(ctx).set_roles(name, list(role))
    console.print(f"{p.name} now has roles {', '.join(p.roles)}")


@app.command("disable")
def disable(ctx: typer.Context, name: str) -> None:
    """Disable a principal (admin only): refused from its next call, in every open session."""
    get_fabric(ctx).set_principal_active(name, False)
    console.print(f"disabled {name}")


@app.command("enable")
def enable(ctx: typer.Context, name: str) -> None:
    """Enable a disabled principal again (admin only)."""
    get_fabric(ctx).set_principal_active(name, True)
    console.print(f"enabled {name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List principals."""
    rows = [{"name": p.name, "kind": p.kind, "roles": p.roles, "department": p.department,
             "attributes": p.attributes, "active": p.active} for p in get_fabric(ctx).principals()]
    print_table(rows, ["name", "kind", "roles", "department", "attributes", "active"], "Principals", as_json)


@app.command("roles")
def roles(as_json: bool = JSON_OPTION) -> None:
    """The roles a principal can hold."""
    print_table([{"role": k, "meaning": v} for k, v in ROLES.items()], ["role", "meaning"], "Roles", as_json)


@app.command("set-password")
def set_password(ctx: typer.Context, name: str,
                 password_stdin: bool = typer.Option(False, "--password-stdin",
                                                     help="read the password from standard input")) -> None:
    """Set a person's portal password (themself, or an admin); only its argon2 hash is stored."""
    import sys

    from govfabric.auth import passwords

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    fabric = get_fabric(ctx)
    passwords.require_person(fabric, name)
    passwords.set_password(fabric, name, password)
    console.print(f"password set for {name}")
