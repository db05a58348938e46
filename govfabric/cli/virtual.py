"""``govfabric vt`` and ``govfabric view`` — virtual tables and views (§8.4.2.2)."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

vt_app = typer.Typer(help="Virtual tables: stable names over catalog assets.", no_args_is_help=True)
view_app = typer.Typer(help="Virtual views: SQL over virtual tables, versioned.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"{what} {item!r} must look like a=b")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@vt_app.command("create")
def vt_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="virtual name schema.table, e.g. market.enterprise"),
    source_asset: str = typer.Option(..., "--from", help="catalog asset, e.g. mr_db.main.t_qy_jbxx"),
    rename: list[str] = typer.Option(None, "--rename", help="physical=virtual (repeatable)"),
    cast: list[str] = typer.Option(None, "--cast", help="virtual=TYPE (repeatable)"),
    hide: list[str] = typer.Option(None, "--hide", help="virtual column to hide (repeatable)"),
    only: list[str] = typer.Option(None, "--only", help="keep only these physical columns"),
    description: OptStr = typer.Option(None),
    keep_names: bool = typer.Option(False, "--keep-names",
                                    help="keep Chinese column names (quote them in SQL) instead of pinyin initials"),
) -> None:
    """Create a virtual table over a catalog asset. Chinese column names become their pinyin
    initials (统一社会信用代码 → tyshxydm; the Chinese name is kept as cn_name) unless --keep-names."""
    renames: dict[str, str] = {}
    for r in rename or []:
        renames.update(_pairs(r.split(","), "--rename"))
    row = get_fabric(ctx).virtual.create_table(name, source_asset, renames=renames, casts=_pairs(cast, "--cast"),
                                               hidden=hide, only=only, description=description,
                                               keep_names=keep_names)
    console.print(f"virtual table [bold]{row.name}[/bold]: " + escape(", ".join(
        f"{c['name']} ({c['cn_name']})" if c.get("cn_name") else c["name"] for c in row.columns)))
    for c in row.columns:
        if c.get("note"):
            console.print(f"[yellow]{escape(c['name'])}[/yellow]: {escape(c['note'])}")


@vt_app.command("map")
def vt_map(ctx: typer.Context, name: str,
           column: list[str] = typer.Option(..., "--column", help="virtual=physical (repeatable)")) -> None:
    """Re-point virtual columns at physical columns (absorbs a change at the source)."""
    row = get_fabric(ctx).virtual.remap(name, _pairs(column, "--column"))
    console.print(f"{row.name} is now version {row.version} ({row.status})")


@vt_app.command("drop")
def vt_drop(ctx: typer.Context, name: str,
            force: bool = typer.Option(False, "--force", help="drop even if views read it (they become broken)")
            ) -> None:
    """Drop a virtual table with its masks, row filters and grants (owning department's steward or admin)."""
    deps = get_fabric(ctx).virtual.drop_table(name, force=force)
    console.print(f"dropped virtual table {escape(name)}" + (f"; broken: {escape(', '.join(deps))}" if deps else ""))


@vt_app.command("list")
def vt_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Virtual tables and whether they still match their source."""
    rows = [{"name": r.name, "columns": len(r.columns), "version": r.version, "status": r.status,
             "problem": r.problem} for r in get_fabric(ctx).virtual.tables()]
    print_table(rows, ["name", "columns", "version", "status", "problem"], "Virtual tables", as_json)


@vt_app.command("show")
def vt_show(ctx: typer.Context, name: str, as_json: bool = JSON_OPTION) -> None:
    """A virtual table's column mapping."""
    d = get_fabric(ctx).virtual.describe(name)
    if as_json:
        print_json(d)
        return
    print_table(d["columns"], d["fields"], f"{d['name']} v{d['version']}")


@view_app.command("create")
def view_create(
    ctx: typer.Context,
    name: str,
    sql: str = typer.Option(..., "--sql", help="SELECT over virtual tables/views"),
    dialect: str = typer.Option("duckdb", help="SQL dialect of --sql"),
    description: OptStr = typer.Option(None),
    replace: bool = typer.Option(False, "--replace", help="define a new version"),
) -> None:
    """Define (or redefine) a virtual view; its dependencies are recorded. Analysts keep views in
    their own schema u_<name>; only a view's owner, a steward of its department or an admin replaces it."""
    row = get_fabric(ctx).virtual.create_view(name, sql, dialect=dialect, description=description, replace=replace)
    console.print(f"view [bold]{row.name}[/bold] v{row.version} reads {escape(', '.join(row.depends_on))}")


@view_app.command("drop")
def view_drop(ctx: typer.Context, name: str,
              force: bool = typer.Option(False, "--force", help="drop even if views read it (they become broken)")
              ) -> None:
    """Drop a view (its owner, a steward of the owner's department, or an admin)."""
    deps = get_fabric(ctx).virtual.drop_view(name, force=force)
    console.print(f"dropped view {escape(name)}" + (f"; broken: {escape(', '.join(deps))}" if deps else ""))


@view_app.command("list")
def view_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Views, re-checked: a view broken by an upstream change is flagged."""
    rows = [{"name": v.name, "version": v.version, "depends_on": v.depends_on, "status": v.status,
             "problem": v.problem} for v in get_fabric(ctx).virtual.views()]
    print_table(rows, ["name", "version", "depends_on", "status", "problem"], "Views", as_json)


@view_app.command("versions")
def view_versions(ctx: typer.Context, name: str, as_json: bool = JSON_OPTION) -> None:
    """The recorded versions of a view: who changed its SQL, when."""
    rows = [{"version": v.version, "by": v.created_by, "at": v.created_at, "sql": v.sql, "depends_on": v.depends_on}
            for v in get_fabric(ctx).virtual.view_versions(name)]
    print_table(rows, ["version", "by", "at", "depends_on", "sql"], f"{name} versions", as_json)
