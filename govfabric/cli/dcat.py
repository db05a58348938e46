"""`govfabric dcat …`: the open catalogue as DCAT-AP 3 (Turtle or JSON-LD) for open-data portals."""

from __future__ import annotations

import typer

from govfabric.cli.common import console, get_fabric

app = typer.Typer(help="The open catalogue as DCAT-AP 3 (Turtle, JSON-LD) for open-data portals.")


@app.command()
def export(
    ctx: typer.Context,
    fmt: str = typer.Option("turtle", "--format", help="turtle | jsonld"),
    output: str = typer.Option(..., "-o", "--output", help="the file to write (metadata only: any folder)"),
    base_url: str = typer.Option("http://localhost:8000", help="the public address of `govfabric serve`, "
                                 "under which dataset, distribution and service IRIs are minted"),
) -> None:
    """Write the DCAT-AP 3 catalogue of the open (and conditionally open) assets."""
    from govfabric.errors import ValidationFailed
    from govfabric.outputs import write_report
    from govfabric.sharing_modes.catalog_api.dcat import serialize
    from govfabric.sharing_modes.catalog_api.service import OpenCatalog

    formats = {"turtle": "turtle", "ttl": "turtle", "jsonld": "json-ld", "json-ld": "json-ld"}
    if fmt not in formats:
        raise ValidationFailed(f"unknown format {fmt!r}; use turtle or jsonld")
    fabric = get_fabric(ctx)
    cat = OpenCatalog(fabric, base_url)
    text = serialize(cat, formats[fmt])
    target = write_report(fabric.settings, output, text)
    console.print(f"wrote {len(cat.packages())} open datasets as DCAT-AP 3 ({formats[fmt]}) to {target}")
