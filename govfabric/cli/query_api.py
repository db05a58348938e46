"""``govfabric api`` — conditional query services (§8.4.2.6): publish, list, show, drop, call."""

from __future__ import annotations

import os
from typing import Any, Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table
from govfabric.errors import ValidationFailed

app = typer.Typer(help="Conditional query services: named lookups business systems call.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045


def _params(items: list[str] | None) -> dict[str, list[str]]:
    """``--param col:op,op`` (repeatable) → ``{col: [op, …]}``."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        col, sep, ops = item.partition(":")
        if not sep or not col.strip() or not ops.strip():
            raise ValidationFailed(f"--param {item!r} must look like column:op[,op] (ops: eq, in, range, prefix)")
        out.setdefault(col.strip(), []).extend(o.strip() for o in ops.split(",") if o.strip())
    return out


def _names(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


@app.command("create")
def api_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="service name, e.g. ent_lookup"),
    table: str = typer.Option(..., "--table", help="virtual table, e.g. market.enterprise"),
    param: list[str] = typer.Option(..., "--param", help="column:ops, ops among eq,in,range,prefix (repeatable)"),
    columns: str = typer.Option(..., "--columns", help="output columns, comma-separated"),
    require_one_of: OptStr = typer.Option(None, "--require-one-of",
                                          help="a call must constrain one of these parameters"),
    order: OptStr = typer.Option(None, "--order", help="unique key to page on (default: the first parameter)"),
    page_size: int = typer.Option(100, "--page-size"),
    max_page_size: int = typer.Option(1000, "--max-page-size"),
    description: OptStr = typer.Option(None),
) -> None:
    """Publish a query service over a virtual table (a steward of its owning department)."""
    row = get_fabric(ctx).query_api.create(name, table, params=_params(param), columns=_names(columns),
                                           require_one_of=_names(require_one_of), order=_names(order) or None,
                                           page_size=page_size, max_page_size=max_page_size,
                                           description=description)
    console.print(f"query service [bold]{escape(row.name)}[/bold] over {escape(row.table_name)}: "
                  f"GET /api/v1/query/{escape(row.name)}")


@app.command("list")
def api_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Every query service."""
    rows = [{"name": r.name, "table": r.table_name,
             "params": ", ".join(f"{c}:{'/'.join(o)}" for c, o in r.params.items()),
             "require_one_of": r.require_one_of, "columns": r.columns, "order": r.order_key,
             "page_size": r.page_size, "created_by": r.created_by} for r in get_fabric(ctx).query_api.list()]
    print_table(rows, ["name", "table", "params", "require_one_of", "columns", "order", "page_size"],
                "Query services", as_json)


@app.command("show")
def api_show(ctx: typer.Context, name: str, as_json: bool = JSON_OPTION) -> None:
    """A service's parameters, required parameters, columns and paging."""
    d = get_fabric(ctx).query_api.describe(name)
    if as_json:
        print_json(d)
        return
    console.print(f"[bold]{escape(d['name'])}[/bold] over {escape(d['table'])}; order {', '.join(d['order'])}; "
                  f"page size {d['page_size']} (cap {d['max_page_size']}); requires one of: "
                  f"{escape(', '.join(d['require_one_of']) or '-')}")
    print_table(d["params"], ["column", "ops", "type"], "Parameters")
    print_table(d["columns"], ["name", "type"], "Columns")


@app.command("drop")
def api_drop(ctx: typer.Context, name: str) -> None:
    """Remove a service (a steward of the table's owning department)."""
    get_fabric(ctx).query_api.drop(name)
    console.print(f"dropped query service {escape(name)}")


@app.command("call")
def api_call(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="service name"),
    params: list[str] = typer.Argument(None, help="conditions key=value (uscc=…, district.in=a,b, founded.gte=…)"),
    url: OptStr = typer.Option(None, "--url", help="call a running server (signed) instead of in-process"),
    app_id: OptStr = typer.Option(None, "--app", help="the app id to sign with (with --url)"),
    secret_env: str = typer.Option("GOVFABRIC_APP_SECRET", "--secret-env",
                                   help="environment variable holding the app secret (with --url)"),
    page_token: OptStr = typer.Option(None, "--page-token"),
    page_size: OptInt = typer.Option(None, "--page-size"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Call a service: in-process as the acting principal (--as), or over HTTP as an app (--url --app)."""
    conditions: dict[str, list[str]] = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationFailed(f"condition {item!r} must look like key=value")
        conditions.setdefault(key, []).append(value)
    if url:
        rows, token = _call_http(url, app_id, secret_env, name, conditions, page_token, page_size)
    else:
        if app_id:
            raise ValidationFailed("--app signs an HTTP call; give --url too (in-process calls act as --as)")
        page = get_fabric(ctx).query_api.call(name, conditions, page_token=page_token, page_size=page_size)
        rows, token = page.rows, page.next_page_token
    if as_json:
        print_json({"rows": rows, "next_page_token": token})
        return
    print_table(rows, list(rows[0]) if rows else [], name)
    if token:
        console.print(f"next page: --page-token {token}")


def _call_http(url: str, app_id: str | None, secret_env: str, name: str, conditions: dict[str, list[str]],
               page_token: str | None, page_size: int | None) -> tuple[list[dict[str, Any]], str | None]:
    from govfabric.client import Client  # the server helper's signing client

    if not app_id:
        raise ValidationFailed("--url needs --app (the app id to sign with)")
    secret = os.environ.get(secret_env)
    if not secret:
        raise ValidationFailed(f"the app secret is not in ${secret_env}; export it or name another with --secret-env")
    kw: dict[str, Any] = {k: (v if len(v) > 1 else v[0]) for k, v in conditions.items()}
    if page_token:
        kw["page_token"] = page_token
    if page_size:
        kw["page_size"] = page_size
    result = Client(url, app_id, secret).query(name, **kw)
    return list(result.rows), getattr(result, "next_page_token", None)
