"""`govfabric chain …`: anchor, verify, history, demo, status, departments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from govfabric.cli.common import get_fabric, print_json

app = typer.Typer(help="Blockchain: anchor digests, verify them, read sharing and grant history.")


@app.command()
def status(ctx: typer.Context) -> None:
    """Which chain, which contracts, how many anchors (deploys the contracts on first use)."""
    print_json(get_fabric(ctx).chain.status())


@app.command()
def anchor(
    ctx: typer.Context,
    targets: list[str] = typer.Argument(..., help="asset names, `audit`, or files with --kind file"),
    kind: str = typer.Option("asset", help="asset | audit | file"),
) -> None:
    """Anchor one batch (one transaction): assets' content signatures (their department's steward or an
    admin), the audit log (auditors, admins), or files (stewards, admins)."""
    from govfabric.blockchain import fabric_ops

    fabric = get_fabric(ctx)
    if targets == ["audit"] or kind == "audit":
        receipt = fabric_ops.anchor_audit(fabric)
    elif kind == "file":
        receipt = fabric_ops.anchor_files(fabric, [Path(t) for t in targets])
    else:
        receipt = fabric_ops.anchor_assets(fabric, targets)
    print_json(receipt.to_dict())


@app.command()
def verify(
    ctx: typer.Context,
    item: str = typer.Argument(..., help="asset name, audit event number, or file path"),
    kind: str = typer.Option("asset", help="asset | audit | file, or any anchored kind with --digest"),
    digest: str | None = typer.Option(None, help="check this digest instead of recomputing it"),
) -> None:
    """Recompute the digest, check its proof against the on-chain root; exit 1 if anything differs."""
    from govfabric.blockchain.fabric_ops import verify_item

    result = verify_item(get_fabric(ctx), kind, item, digest)
    print_json(result.to_dict())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def proof(ctx: typer.Context, item: str, kind: str = typer.Option("asset")) -> None:
    """Print a portable inclusion proof of an anchored item."""
    print_json(get_fabric(ctx).chain.proof_bundle(kind, item))


@app.command("verify-proof")
def verify_proof(ctx: typer.Context, bundle: Path, digest: str) -> None:
    """Check a proof bundle (from `chain proof`) and a digest against the chain."""
    from govfabric.cli.common import read_json_file

    result = get_fabric(ctx).chain.verify_bundle(read_json_file(bundle, "the proof bundle"), digest)
    print_json(result.to_dict())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def history(ctx: typer.Context, asset: str = typer.Argument(..., help="catalog asset, virtual table or asset id")
            ) -> None:
    """Sharing records and grants of an asset, read from the chain's events."""
    from govfabric.errors import NotFound

    fabric = get_fabric(ctx)
    asset_id = _asset_id(fabric, asset)
    events = fabric.chain.history(asset_id or asset)
    if asset_id is None and not events:
        raise NotFound(f"{asset} is neither a catalog asset nor a virtual table, and no chain record names it; "
                       "see `govfabric catalog list` and `govfabric vt list`")
    print_json([e.to_dict() for e in events])


def _asset_id(fabric: Any, name: str) -> str | None:
    """The catalog asset id a name means: grants and shares are recorded under it. A virtual table
    name means the asset it is defined over."""
    from govfabric.errors import NotFound

    try:
        return str(fabric.catalog.asset(name).id)
    except NotFound:
        pass
    try:
        return str(fabric.virtual.table(name).asset_id)
    except NotFound:
        return None


@app.command()
def department(
    ctx: typer.Context,
    name: str,
    remove: bool = typer.Option(False, "--remove", help="remove it from the consortium"),
) -> None:
    """Admit a department account to the consortium (or remove it); admins."""
    from govfabric.blockchain import fabric_ops

    fabric = get_fabric(ctx)
    dept = fabric_ops.remove_department(fabric, name) if remove else fabric_ops.add_department(fabric, name)
    print_json(dept.to_dict())


@app.command()
def demo(ctx: typer.Context) -> None:
    """Anchor the demo datasets and audit log, record a grant, tamper with a copy, show the failure."""
    from govfabric.blockchain.fabric_ops import run_demo

    print_json(run_demo(get_fabric(ctx)))
