"""``govfabric catalog`` — harvest, import, list, show, search, classify, favourites."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from govfabric.catalog import taxonomy
from govfabric.cli.common import (
    JSON_OPTION,
    console,
    get_fabric,
    highlight,
    print_json,
    print_table,
    progress_bar,
)

app = typer.Typer(help="The data-asset catalog (§8.4.1).", no_args_is_help=True)
favorite = typer.Typer(help="Your favourite assets (§8.4.1.5).", no_args_is_help=True)
app.add_typer(favorite, name="favorite")
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)


def _asset_row(a: object) -> dict[str, object]:
    return {k: getattr(a, k) for k in ("id", "qualified_name", "cn_name", "asset_type", "owner_department",
                                       "level", "theme", "data_domain", "thematic_library", "sharing_class",
                                       "open_class", "row_count", "version", "status", "tags")}


@app.command("harvest")
def harvest(ctx: typer.Context, source: str, as_json: bool = JSON_OPTION) -> None:
    """Read a source's tables/files and register or re-sync them (schema changes are versioned)."""
    fabric = get_fabric(ctx)
    with progress_bar(f"harvesting {source}", enabled=not as_json) as update:
        report = fabric.catalog.harvest(source, progress=update)
    if as_json:
        print_json({**report.summary(), "added_assets": report.added, "changes": report.changed,
                    "dropped_assets": report.dropped, "skipped_files": report.skipped})
        return
    s = report.summary()
    console.print(f"harvested [bold]{source}[/bold]: {s['added']} added, {s['changed']} changed, "
                  f"{s['dropped']} dropped, {s['unchanged']} unchanged; {s['notified']} consumer(s) notified")
    for qn, diff in report.changed.items():
        console.print(f"  [yellow]changed[/yellow] {escape(qn)}: {escape(str(diff))}")
    for qn in report.dropped:
        console.print(f"  [red]dropped[/red] {escape(qn)}")
    for sk in report.skipped:
        console.print(f"  [yellow]skipped[/yellow] {escape(sk['file'])}: {escape(sk['reason'])}")


@app.command("import")
def import_(ctx: typer.Context, file: str, as_json: bool = JSON_OPTION) -> None:
    """Register assets by hand from CSV/XLSX/JSON (Chinese headers accepted); all or nothing."""
    created = get_fabric(ctx).catalog.import_file(file)
    if as_json:
        print_json([_asset_row(a) for a in created])
    else:
        console.print(f"imported {len(created)} asset(s)")


@app.command("list")
def list_(
    ctx: typer.Context,
    source: OptStr = typer.Option(None),
    department: OptStr = typer.Option(None),
    level: OptStr = typer.Option(None, help="national | provincial | municipal | county (or 国家级…)"),
    theme: OptStr = typer.Option(None),
    domain: OptStr = typer.Option(None, "--domain", help="data domain, e.g. legal_entity or 法人"),
    library: OptStr = typer.Option(None, "--library", help="thematic library, e.g. e_licence_library"),
    sharing: OptStr = typer.Option(None, "--sharing", help="unconditional | conditional | not_shared"),
    open_: OptStr = typer.Option(None, "--open", help="open | conditional_open | not_open"),
    asset_type: OptStr = typer.Option(None, "--type"),
    tag: OptStr = typer.Option(None),
    include_dropped: bool = typer.Option(False, "--include-dropped"),
    limit: int = typer.Option(200),
    as_json: bool = JSON_OPTION,
) -> None:
    """List assets, filtered by any classification."""
    assets = get_fabric(ctx).catalog.assets(
        source=source, department=department, level=level, theme=theme, data_domain=domain,
        thematic_library=library, sharing_class=sharing, open_class=open_, asset_type=asset_type, tag=tag,
        include_dropped=include_dropped, limit=limit)
    print_table([_asset_row(a) for a in assets],
                ["qualified_name", "cn_name", "asset_type", "owner_department", "level", "data_domain",
                 "sharing_class", "row_count", "version"], "Assets", as_json)


@app.command("show")
def show(ctx: typer.Context, asset: str, as_json: bool = JSON_OPTION) -> None:
    """The data dictionary of an asset: names, location, structure, classification, usage."""
    d = get_fabric(ctx).catalog.dictionary(asset)
    if as_json:
        print_json(d)
        return
    console.print(f"[bold]{escape(d['qualified_name'])}[/bold]  {escape(d['cn_name'] or '')}")
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim")
    info.add_column(overflow="fold")
    for k in ("id", "description", "type", "status", "version", "source", "location", "owner_department",
              "caliber", "last_updated_at", "row_count", "content_signature", "tags"):
        v = d.get(k)
        if v not in (None, "", [], {}):
            info.add_row(k, escape(str(v)))
    for k, v in d["classification"].items():
        if v:
            info.add_row(k, escape(taxonomy.label(k, v)))
    u = d["usage"]
    info.add_row("usage", f"used {u['times_used']}×, distributed {u['times_distributed']}×, "
                          f"consumers: {', '.join(u['consumers']) or '-'}, favourited by {u['favourited_by']}")
    console.print(info)
    print_table(d["columns"], ["position", "name", "cn_name", "type", "nullable", "description", "unit"],
                "Structure")


@app.command("versions")
def versions(ctx: typer.Context, asset: str, as_json: bool = JSON_OPTION) -> None:
    """The recorded structure versions of an asset, with what changed."""
    rows = [{"version": v.version, "reason": v.reason, "at": v.created_at, "by": v.created_by,
             "diff": v.diff, "columns": len(v.structure)} for v in get_fabric(ctx).catalog.versions(asset)]
    print_table(rows, ["version", "reason", "at", "by", "columns", "diff"], "Versions", as_json)


@app.command("search")
def search(
    ctx: typer.Context,
    text: str,
    limit: int = typer.Option(20),
    domain: OptStr = typer.Option(None, "--domain"),
    level: OptStr = typer.Option(None),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search names, Chinese names, descriptions, columns and tags; ranked, matches highlighted."""
    cat = get_fabric(ctx).catalog
    hits = cat.search(text, limit=limit, data_domain=domain, level=level)
    if as_json:
        print_json([h.as_dict() for h in hits])
        return
    table = Table(title=f"{len(hits)} result(s) for {escape(text)}")
    for c in ("score", "asset", "中文名", "matched in"):
        table.add_column(c, overflow="fold")
    for h in hits:
        where = "; ".join(f"{f}: {highlight(t)}" for f, t in h.matches[:4])
        table.add_row(str(h.score), escape(h.qualified_name), escape(h.cn_name or ""), where)
    console.print(table)
    hot = cat.hot_searches(5)
    if hot:
        console.print("[dim]hot searches: " + escape(", ".join(f"{q} ({n})" for q, n in hot)) + "[/dim]")


@app.command("searches")
def searches(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Your recent searches and the workspace's hot searches."""
    cat = get_fabric(ctx).catalog
    data = {"recent": cat.recent_searches(), "hot": [{"query": q, "count": n} for q, n in cat.hot_searches()]}
    if as_json:
        print_json(data)
        return
    console.print("recent: " + escape(", ".join(data["recent"]) or "-"))
    print_table(data["hot"], ["query", "count"], "Hot searches")


@app.command("classify")
def classify(
    ctx: typer.Context,
    asset: str,
    level: OptStr = typer.Option(None),
    theme: OptStr = typer.Option(None),
    domain: OptStr = typer.Option(None, "--domain"),
    library: OptStr = typer.Option(None, "--library"),
    sharing: OptStr = typer.Option(None, "--sharing"),
    open_: OptStr = typer.Option(None, "--open"),
    frequency: OptStr = typer.Option(None, "--frequency"),
    value: OptStr = typer.Option(None, "--value", help="business value: high | medium | low"),
    tag: list[str] = typer.Option(None, "--tag"),
    dimension: list[str] = typer.Option(None, "--dimension"),
) -> None:
    """Classify an asset (keys or Chinese labels, e.g. --domain 法人 --sharing 有条件共享)."""
    a = get_fabric(ctx).catalog.classify(
        asset, level=level, theme=theme, data_domain=domain, thematic_library=library, sharing_class=sharing,
        open_class=open_, update_frequency=frequency, business_value=value, tags=tag or None,
        dimensions=dimension or None)
    console.print(f"classified {escape(a.qualified_name)}")


@app.command("annotate")
def annotate(
    ctx: typer.Context,
    asset: str,
    cn_name: OptStr = typer.Option(None, "--cn-name"),
    description: OptStr = typer.Option(None),
    caliber: OptStr = typer.Option(None, help="analysis caliber (口径)"),
    column: list[str] = typer.Option(None, "--column", help="COLUMN=中文名 (repeatable)"),
) -> None:
    """Business metadata: Chinese names, description, caliber, column names."""
    cols = {c.split("=", 1)[0]: {"cn_name": c.split("=", 1)[1]} for c in (column or []) if "=" in c}
    a = get_fabric(ctx).catalog.annotate(asset, cn_name=cn_name, description=description, caliber=caliber,
                                         columns=cols or None)
    console.print(f"annotated {escape(a.qualified_name)}")


@app.command("sign")
def sign(ctx: typer.Context, asset: str, algo: str = typer.Option("sha256", help="sha256 | sm3")) -> None:
    """Compute (or refresh) the content signature of an asset from its data."""
    digest = get_fabric(ctx).catalog.content_signature(asset, algo=algo, refresh=True)
    console.print(f"{algo}:{digest}")


@app.command("usage")
def usage(ctx: typer.Context, asset: str, as_json: bool = JSON_OPTION) -> None:
    """How often an asset was used and distributed, and by whom."""
    u = get_fabric(ctx).catalog.usage(asset)
    if as_json:
        print_json(u)
    else:
        console.print(u)


@app.command("notifications")
def notifications(ctx: typer.Context, unread: bool = typer.Option(False, "--unread"),
                  as_json: bool = JSON_OPTION) -> None:
    """Your notifications (e.g. schema changes of assets you use); marks them read."""
    rows = [{"at": n.created_at, "kind": n.kind, "message": n.message, "read": n.read_at is not None}
            for n in get_fabric(ctx).catalog.notifications(unread_only=unread, mark_read=True)]
    print_table(rows, ["at", "kind", "message", "read"], "Notifications", as_json)


@app.command("taxonomy")
def taxonomy_(as_json: bool = JSON_OPTION) -> None:
    """The shipped classification: levels, data domains, thematic libraries, sharing/open classes…"""
    rows = [{"facet": f, "key": t.key, "zh": t.zh, "en": t.en} for f, terms in taxonomy.FACETS.items()
            for t in terms]
    print_table(rows, ["facet", "key", "zh", "en"], "Classification", as_json)


@favorite.command("add")
def fav_add(ctx: typer.Context, asset: str, note: OptStr = typer.Option(None)) -> None:
    """Mark an asset as a favourite, with an optional note."""
    a = get_fabric(ctx).catalog.favorite_add(asset, note)
    console.print(f"★ {escape(a.qualified_name)}")


@favorite.command("remove")
def fav_remove(ctx: typer.Context, asset: str) -> None:
    """Remove an asset from your favourites."""
    get_fabric(ctx).catalog.favorite_remove(asset)
    console.print(f"removed {escape(asset)} from favourites")


@favorite.command("list")
def fav_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Your favourite assets."""
    print_table([_asset_row(a) for a in get_fabric(ctx).catalog.favorites()],
                ["qualified_name", "cn_name", "asset_type", "owner_department"], "Favourites", as_json)
