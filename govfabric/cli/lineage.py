"""``govfabric lineage`` — upstream/downstream, impact analysis, exports (§8.4.4.2f, §8.4.4.5)."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table

app = typer.Typer(help="Lineage and provenance: where data comes from, where it goes, what breaks.",
                  no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045


def _svc(ctx: typer.Context):
    return get_fabric(ctx).lineage


@app.command("show")
def show(ctx: typer.Context, dataset: str, column: OptStr = typer.Option(None, "--column", "-c"),
         upstream: bool = typer.Option(False, "--upstream"), downstream: bool = typer.Option(False, "--downstream"),
         depth: OptInt = typer.Option(None, "--depth"), as_json: bool = JSON_OPTION) -> None:
    """Datasets (and columns) upstream and/or downstream of DATASET."""
    svc = _svc(ctx)
    directions = [d for d, on in (("upstream", upstream), ("downstream", downstream)) if on] or \
        ["upstream", "downstream"]
    result = {d: svc.show(dataset, column, direction=d, depth=depth).as_dict() for d in directions}
    if as_json:
        print_json(result)
        return
    for d, t in result.items():
        print_table([r for r in t["datasets"] if r["depth"] > 0], ["depth", "dataset", "columns", "via"],
                    f"{d} of {t['root']}" + (f".{column}" if column else ""))
        for cyc in t["cycles"]:
            console.print(f"[yellow]cycle:[/yellow] {' → '.join(cyc)}")


@app.command("impact")
def impact(ctx: typer.Context, target: str = typer.Argument(..., help="DATASET or DATASET.COLUMN"),
           depth: OptInt = typer.Option(None, "--depth"), as_json: bool = JSON_OPTION) -> None:
    """What breaks, and whose, if TARGET changes."""
    rep = _svc(ctx).impact(target, depth=depth)
    if as_json:
        print_json(rep)
        return
    print_table(rep["affected"], ["depth", "kind", "dataset", "columns", "owners", "consumers"],
                f"Impact of changing {rep['dataset']}" + (f".{rep['column']}" if rep["column"] else ""))
    console.print(f"owners to inform: {', '.join(rep['owners']) or 'none'}; "
                  f"consumers: {', '.join(rep['consumers']) or 'none'}")
    for cyc in rep["cycles"]:
        console.print(f"[yellow]cycle:[/yellow] {' → '.join(cyc)}")


@app.command("export")
def export(ctx: typer.Context, dataset: OptStr = typer.Argument(None, help="focus (default: everything)"),
           fmt: str = typer.Option("html", "--format", help="openlineage | dot | html"),
           column: OptStr = typer.Option(None, "--column", "-c"), depth: OptInt = typer.Option(None, "--depth"),
           output: OptStr = typer.Option(None, "-o", "--output",
                                         help="file (default: stdout); never a workspace file")) -> None:
    """Export lineage as OpenLineage events (JSON lines), Graphviz DOT or a self-contained HTML/SVG page.

    Other principals' SQL shows with its literals replaced by ``?`` unless you are an auditor or admin."""
    from govfabric.outputs import write_report

    svc = _svc(ctx)
    text = svc.export(fmt, dataset, column, depth)
    if output:
        where = write_report(svc.fabric.settings, output, text)
        console.print(f"wrote {where}")
    else:
        typer.echo(text, nl=False)


@app.command("forward")
def forward(ctx: typer.Context, url: OptStr = typer.Option(None, "--url", help="default: lineage_url")) -> None:
    """Send stored events not yet forwarded to an OpenLineage HTTP consumer (Marquez)."""
    from govfabric.governance.lineage.transport import forward_stored

    n = forward_stored(get_fabric(ctx), url=url)
    console.print(f"forwarded {n} event(s)")
