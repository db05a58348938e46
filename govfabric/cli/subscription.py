"""``govfabric subscription``: order ranges, approve them, pull and push their changes (§8.4.2.7)."""

from __future__ import annotations

from typing import Optional

import typer

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_json, print_table, progress_bar

app = typer.Typer(help="Data service subscriptions: ordered ranges, pull and signed push.", no_args_is_help=True)
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045
COLUMNS = ["id", "subscriber", "table", "columns", "filter", "push_url", "status", "grant_id", "delivered_seq"]


def _cols(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@app.command("order")
def order(ctx: typer.Context, table: str, columns: OptStr = typer.Option(None, help="comma-separated; default all"),
          filter_: OptStr = typer.Option(None, "--filter", help="e.g. district = '350102' (restricted grammar)"),
          key: OptStr = typer.Option(None, help="key column(s); default: all ordered columns"),
          change_column: OptStr = typer.Option(None, "--change-column", help="e.g. updated_at"),
          push: OptStr = typer.Option(None, "--push", help="webhook URL (https://…)"),
          purpose: str = typer.Option(..., help="what the data is for")) -> None:
    """Order a range of a virtual table; the owner approves it."""
    sub, secret = get_fabric(ctx).subscriptions.order(table, columns=_cols(columns), filter=filter_, key=_cols(key),
                                                      change_column=change_column, push_url=push, purpose=purpose)
    console.print(f"subscription [bold]{sub.id}[/bold] on {sub.table_name} is pending approval "
                  f"(access request {sub.request_id})")
    if secret:
        console.print(f"webhook secret (shown once, verify pushes with it): [bold]{secret}[/bold]")


@app.command("approve")
def approve(ctx: typer.Context, sub_id: int, reason: OptStr = typer.Option(None)) -> None:
    """Approve (owner department's steward or admin): a grant scoped to the range."""
    sub = get_fabric(ctx).subscriptions.approve(sub_id, reason)
    console.print(f"subscription {sub.id} is active: grant {sub.grant_id} to {sub.subscriber}")


@app.command("reject")
def reject(ctx: typer.Context, sub_id: int, reason: str = typer.Option(..., help="told to the subscriber")) -> None:
    """Reject an order, with a reason."""
    get_fabric(ctx).subscriptions.reject(sub_id, reason)
    console.print(f"rejected subscription {sub_id}")


@app.command("list")
def list_(ctx: typer.Context, mine: bool = typer.Option(False, "--mine"), status: OptStr = typer.Option(None),
          as_json: bool = JSON_OPTION) -> None:
    """Subscriptions: one's own, and those on tables one governs."""
    from govfabric.sharing_modes.data_service.service import as_dict

    rows = [as_dict(s) for s in get_fabric(ctx).subscriptions.list(mine, status)]
    print_table(rows, COLUMNS, "Subscriptions", as_json)


@app.command("show")
def show(ctx: typer.Context, sub_id: int, as_json: bool = JSON_OPTION) -> None:
    """One subscription."""
    from govfabric.sharing_modes.data_service.service import as_dict

    d = as_dict(get_fabric(ctx).subscriptions.show(sub_id))
    if as_json:
        print_json(d)
        return
    for k, v in d.items():
        console.print(f"[bold]{k}[/bold]: {v}")


@app.command("deliveries")
def deliveries(ctx: typer.Context, sub_id: int, as_json: bool = JSON_OPTION) -> None:
    """The delivery log of a push subscription."""
    rows = [{k: getattr(d, k) for k in ("id", "from_seq", "to_seq", "changes", "status", "attempts", "last_status",
                                        "last_error", "next_attempt_at", "delivered_at")}
            for d in get_fabric(ctx).subscriptions.deliveries(sub_id)]
    print_table(rows, ["id", "changes", "status", "attempts", "last_status", "last_error", "delivered_at"],
                f"Deliveries of subscription {sub_id}", as_json)


@app.command("redeliver")
def redeliver(ctx: typer.Context, sub_id: int,
              delivery: OptStr = typer.Option(None, help="one delivery id; default every dead one")) -> None:
    """Send a delivery again (same idempotency key)."""
    f = get_fabric(ctx)
    rows = f.subscriptions.redeliver(sub_id, delivery)
    report = f.subscriptions.run(sub_id)
    console.print(f"queued {len(rows)} deliver(y/ies) again: {report.delivered} delivered, {report.failed} to retry, "
                  f"{report.dead} dead")


def _move(action: str) -> None:
    def command(ctx: typer.Context, sub_id: int) -> None:
        sub = getattr(get_fabric(ctx).subscriptions, action)(sub_id)
        console.print(f"subscription {sub.id} is {sub.status}")

    command.__doc__ = {"pause": "Pause deliveries (subscriber).", "resume": "Resume a paused (subscriber) or "
                       "suspended (owner) subscription.", "cancel": "Cancel a subscription (subscriber)."}[action]
    app.command(action)(command)


for _a in ("pause", "resume", "cancel"):
    _move(_a)


@app.command("suspend")
def suspend(ctx: typer.Context, sub_id: int, reason: OptStr = typer.Option(None)) -> None:
    """Suspend a subscription (owner department's steward or admin)."""
    get_fabric(ctx).subscriptions.suspend(sub_id, reason)
    console.print(f"subscription {sub_id} is suspended")


@app.command("run")
def run(ctx: typer.Context, sub_id: OptInt = typer.Argument(None, help="one subscription; default all"),
        due: bool = typer.Option(False, "--due", help="only those a harvest marked due"),
        drain: bool = typer.Option(False, "--drain", help="wait and retry until every push is delivered or dead"),
        as_json: bool = JSON_OPTION) -> None:
    """Detect changes and push due deliveries."""
    f = get_fabric(ctx)
    with progress_bar("subscriptions", enabled=not as_json) as update:
        report = f.subscriptions.run(sub_id, only_due=due, drain=drain, progress=update)
    if as_json:
        print_json(report)
        return
    console.print(f"{report.checked} checked, {report.changes} changes, {report.delivered} delivered, "
                  f"{report.failed} to retry, {report.dead} dead")
    for e in report.errors:
        console.print(f"[red]{e}[/red]")
