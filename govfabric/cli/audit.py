"""``govfabric audit`` — read and verify the keyed, hash-chained audit log."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, err_console, get_fabric, print_json, print_table
from govfabric.errors import GovfabricError, IntegrityError

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _anchored_end(fabric: Fabric) -> int | None:
    """The last event of the newest audit segment anchored on this workspace's chain, if any (the
    chain service is started only when there is one)."""
    from govfabric.blockchain.fabric_ops import anchored_audit_end

    return anchored_audit_end(fabric)


def _anchor_problems(fabric: Fabric) -> list[str]:
    """The newest anchored segment's last event against the root on the chain (key leaked or not,
    the chain cannot be rewritten). An unreachable chain is a warning, not a verdict."""
    from govfabric.blockchain.fabric_ops import verify_item
    from govfabric.errors import NotFound

    try:
        end = _anchored_end(fabric)
        if end is None:
            return []
        result = verify_item(fabric, "audit", str(end))
    except NotFound as exc:
        return [f"anchored audit event: {exc}"]
    except GovfabricError as exc:
        err_console.print(f"[yellow]warning[/yellow]: the anchored audit segment was not checked: {exc}")
        return []
    return [f"anchored event {end}: {p}" for p in result.problems]


@app.command("verify")
def verify(
    ctx: typer.Context,
    chain: bool = typer.Option(True, "--chain/--no-chain",
                               help="also check the newest anchored audit segment against the blockchain"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Recompute the keyed chain and compare it with the signed checkpoint outside the store (and the
    newest anchored segment); exit non-zero if any event was edited, deleted, re-hashed or reordered."""
    fabric = get_fabric(ctx)
    report = fabric.audit.verify()
    anchored = _anchor_problems(fabric) if chain else []
    if anchored:
        report = replace(report, ok=False, problems=[*report.problems, *anchored])
    if as_json:
        print_json(report)
    if not report.ok:
        raise IntegrityError("audit log verification FAILED:\n" + "\n".join(f"  - {p}" for p in report.problems))
    if not as_json:
        console.print(f"[green]audit log intact[/green]: {report.events} events, chain head at {report.head_seq}")


@app.command("list")
def list_(
    ctx: typer.Context,
    action: Optional[str] = typer.Option(None, help="only this action, e.g. catalog.harvest"),  # noqa: UP045
    target: Optional[str] = typer.Option(None, help="only this target, e.g. source:mr_db"),  # noqa: UP045
    actor: Optional[str] = typer.Option(None, help="only events by this principal"),  # noqa: UP045
    limit: int = typer.Option(50, help="at most this many (newest last)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List audit events: auditors and admins see every event, everyone else only their own."""
    events = get_fabric(ctx).audit.events(action=action, target=target, actor=actor)[-limit:]
    rows = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
             "details": e.details, "hash": e.hash[:16]} for e in events]
    print_table(rows, ["seq", "at", "actor", "action", "target", "hash"], "Audit log", as_json)
