"""`govfabric dataset …`: offer tables and views as files; preview, export, link, anchor."""

from __future__ import annotations

from pathlib import Path

import typer

from govfabric.cli.common import console, get_fabric, print_json, print_table, status

app = typer.Typer(help="Dataset files (§8.4.2.5): publish, preview, export, signed download links.")


@app.command()
def publish(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="virtual table or view, e.g. market.enterprise"),
    formats: str = typer.Option("csv,xlsx,parquet,json", help="comma-separated: csv, xlsx, parquet, json, ndjson"),
    encoding: str = typer.Option("utf-8", help="CSV encoding: utf-8 | gb18030"),
    bom: bool = typer.Option(False, "--bom", help="start CSV files with a byte-order mark (Excel)"),
    title: str | None = typer.Option(None, help="the title; also the download's file name"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Offer a table or view as files (a steward of its owning department, or an admin)."""
    from govfabric.sharing_modes.files.service import offer_dict

    offer = get_fabric(ctx).datasets.publish(name, [f for f in formats.split(",") if f.strip()],
                                             encoding=encoding, bom=bom, title=title)
    if as_json:
        print_json(offer_dict(offer))
    else:
        console.print(f"published {offer.name} as {', '.join(offer.formats)}")


@app.command()
def unpublish(ctx: typer.Context, name: str) -> None:
    """Withdraw an offer (files already written stay recorded)."""
    offer = get_fabric(ctx).datasets.unpublish(name)
    console.print(f"unpublished {offer.name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Datasets on offer."""
    from govfabric.sharing_modes.files.service import offer_dict

    offers = [offer_dict(o) for o in get_fabric(ctx).datasets.offers()]
    if as_json:
        print_json(offers)
    else:
        print_table([o | {"formats": ",".join(o["formats"])} for o in offers],
                    ["name", "title", "kind", "formats", "encoding", "owner_department"], "Datasets")


@app.command()
def show(ctx: typer.Context, name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """An offer and the columns you would get under your grant."""
    info = get_fabric(ctx).datasets.describe(name)
    if as_json:
        print_json(info)
    else:
        console.print(f"[bold]{info['name']}[/bold] {info['title'] or ''} ({info['kind']}): "
                      f"{', '.join(info['formats'])}")
        print_table(info["columns"], ["name", "type"], "Columns")


@app.command()
def preview(ctx: typer.Context, name: str, rows: int = typer.Option(20, "--rows", min=1, max=1000),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """The first rows as your grant shows them (masks, row filters applied)."""
    data = get_fabric(ctx).datasets.preview(name, rows)
    if as_json:
        print_json(data)
    else:
        table = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
        print_table(table, data["columns"], data["dataset"])


@app.command()
def export(
    ctx: typer.Context,
    name: str,
    fmt: str = typer.Option("csv", "--format", help="csv, xlsx, parquet, json, ndjson (as offered)"),
    output: Path = typer.Option(..., "-o", "--output", help="file under the export root"),
    encoding: str | None = typer.Option(None, help="CSV encoding (default: the offer's)"),
    bom: bool | None = typer.Option(None, "--bom/--no-bom", help="CSV byte-order mark (default: the offer's)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write your file of a dataset, streamed; prints its digests (SHA-256, SM3)."""
    from govfabric.sharing_modes.files.service import file_dict

    with status(f"writing {name} as {fmt}"):
        f = get_fabric(ctx).datasets.export(name, fmt.lower(), output, encoding=encoding, bom=bom)
    if as_json:
        print_json(file_dict(f) | {"path": f.path})
    else:
        console.print(f"{f.path}: {f.rows:,} rows, {f.size:,} bytes\n  sha-256 {f.sha256}\n  sm3     {f.sm3}\n"
                      f"  file id {f.id}")


@app.command()
def link(ctx: typer.Context, name: str,
         fmt: str = typer.Option("csv", "--format"),
         expires: str = typer.Option("1h", help="e.g. 15m, 1h, 7d (at most 7d)"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """A signed, expiring download link for you (append it to the server's base URL)."""
    made = get_fabric(ctx).datasets.link(name, fmt.lower(), expires)
    if as_json:
        print_json({"url": made.url, "expires_at": made.expires_at.isoformat()})
    else:
        console.print(f"{made.url}\n  expires {made.expires_at.isoformat()}", soft_wrap=True)


@app.command()
def files(ctx: typer.Context, name: str | None = typer.Argument(None),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Files written (yours; stewards and auditors see all) with their digests."""
    from govfabric.sharing_modes.files.service import file_dict

    rows = [file_dict(f) for f in get_fabric(ctx).datasets.files(name)]
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["id", "dataset", "consumer", "format", "rows", "size", "sha256", "anchor_id"], "Files")


@app.command()
def anchor(ctx: typer.Context, file_id: str) -> None:
    """Anchor a file's SHA-256 on the chain (kind ``dataset_file``); check it later with
    `govfabric chain verify FILE_ID --kind dataset_file --digest SHA256`."""
    print_json(get_fabric(ctx).datasets.anchor(file_id))
