"""``govfabric audit`` — read and verify the hash-chained audit log."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table
from govfabric.errors import IntegrityError

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Recompute the hash chain; exit non-zero if any event was edited, deleted or reordered."""
    report = get_fabric(ctx).audit.verify()
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
    """List audit events."""
    events = get_fabric(ctx).audit.events(action=action, target=target, actor=actor)[-limit:]
    rows = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
             "details": e.details, "hash": e.hash[:16]} for e in events]
    print_table(rows, ["seq", "at", "actor", "action", "target", "hash"], "Audit log", as_json)
