"""`govfabric share …`: sharing process management (§8.4.2.10) — offers, lifecycle, requests,
time limits and overdue reminders, statistics per department."""

from __future__ import annotations

import typer

from govfabric.cli.common import console, get_fabric, print_json, print_table

app = typer.Typer(help="Sharing process management (§8.4.2.10): offers, review, publish, requests, statistics.")

Reason = typer.Option(..., "--reason", help="why (recorded in the share's history and the audit log)")


def _done(offer: object, verb: str) -> None:
    console.print(f"share {offer.name}: {verb} → {offer.state}")  # type: ignore[attr-defined]


@app.command()
def create(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="table | view | service | dataset"),
    target: str = typer.Argument(..., help="its name, e.g. market.enterprise or a query service's name"),
    name: str | None = typer.Option(None, help="the share's name (default: the target's)"),
    title: str | None = typer.Option(None),
    sharing_class: str | None = typer.Option(None, "--sharing-class",
                                             help="无条件共享 | 有条件共享 | 不予共享 (default: the catalog's)"),
    open_class: str | None = typer.Option(None, "--open-class",
                                          help="无条件开放 | 有条件开放 | 不予开放 (default: the catalog's)"),
    limit: list[str] = typer.Option([], "--limit", help="STAGE=HOURS for this share (draft, submitted, "
                                    "reviewed, request); repeatable"),
    reason: str | None = typer.Option(None, "--reason"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Draft an offer (a steward of the owning department)."""
    from govfabric.sharing_modes.process.service import offer_dict, parse_limits

    offer = get_fabric(ctx).shares.create(kind, target, name=name, title=title, sharing_class=sharing_class,
                                          open_class=open_class, limits=parse_limits(limit), reason=reason)
    if as_json:
        print_json(offer_dict(offer))
    else:
        console.print(f"share {offer.name} drafted: {offer.target_kind} {offer.target}, "
                      f"{offer.sharing_class} / {offer.open_class}")


@app.command()
def submit(ctx: typer.Context, name: str, reason: str = Reason) -> None:
    """draft → submitted, for review (the owning department's steward)."""
    _done(get_fabric(ctx).shares.submit(name, reason), "submitted")


@app.command()
def review(ctx: typer.Context, name: str, reason: str = Reason,
           reject: bool = typer.Option(False, "--reject", help="send it back to draft")) -> None:
    """submitted → reviewed (or back to draft with --reject): a reviewer (共享主管部门)."""
    _done(get_fabric(ctx).shares.review(name, reason, approve=not reject), "reviewed")


@app.command()
def publish(ctx: typer.Context, name: str, reason: str = Reason) -> None:
    """reviewed or suspended → published (the owning department's steward)."""
    _done(get_fabric(ctx).shares.publish(name, reason), "published")


@app.command()
def suspend(ctx: typer.Context, name: str, reason: str = Reason) -> None:
    """published → suspended: existing grants stay, new requests are refused."""
    _done(get_fabric(ctx).shares.suspend(name, reason), "suspended")


@app.command()
def retire(ctx: typer.Context, name: str, reason: str = Reason) -> None:
    """→ retired (final): the grants the share made are revoked."""
    _done(get_fabric(ctx).shares.retire(name, reason), "retired")


@app.command()
def request(ctx: typer.Context, name: str,
            purpose: str = typer.Option(..., "--purpose", help="what the data is for"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Ask for a published share: 无条件共享 grants now; 有条件共享 waits for `govfabric access approve`."""
    req = get_fabric(ctx).shares.request(name, purpose)
    if as_json:
        print_json({"id": req.id, "mode": req.mode, "grants": req.grants, "access_requests": req.access_requests})
    elif req.mode == "automatic":
        console.print(f"request {req.id}: granted (grants {', '.join(map(str, req.grants))})")
    else:
        console.print(f"request {req.id}: waiting for the steward's approval (access requests "
                      f"{', '.join(map(str, req.access_requests))})")


@app.command("list")
def list_(ctx: typer.Context, state: str | None = typer.Option(None, help="only shares in this state"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Shares you may see: published and suspended ones, and your department's."""
    from govfabric.sharing_modes.process.service import offer_dict

    rows = [offer_dict(o) for o in get_fabric(ctx).shares.offers(state)]
    print_table(rows, ["name", "target_kind", "target", "owner_department", "sharing_class", "open_class",
                       "state", "state_since"], "Shares", as_json=as_json)


@app.command()
def show(ctx: typer.Context, name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A share, its history with reasons, its time limits and its requests."""
    info = get_fabric(ctx).shares.show(name)
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{info['name']}[/bold] {info['title'] or ''}: {info['target_kind']} {info['target']} "
                  f"({info['owner_department']}) — {info['sharing_class']} / {info['open_class']}, "
                  f"[bold]{info['state']}[/bold] since {info['state_since']}")
    print_table(info["history"], ["at", "from", "to", "by", "reason"], "History")
    print_table([{"stage": k, "hours": v} for k, v in info["effective_limits"].items()], ["stage", "hours"],
                "Time limits")
    print_table(info["requests"], ["id", "requester", "mode", "status", "created_at", "decided_at"], "Requests")


@app.command()
def stats(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Per department: offers by state and class, requests, approval times, usage, overdue."""
    data = get_fabric(ctx).shares.stats()
    if as_json:
        print_json(data)
        return

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))

    rows = [d | {"by_state": counts(d["by_state"]), "classes": counts(d["by_sharing_class"]),
                 "requests": f"{d['requests']} ({counts(d['requests_by_status'])})" if d["requests"] else 0}
            for d in data["departments"]]
    print_table(rows, ["department", "offers", "by_state", "classes", "requests", "approval_hours_median",
                       "approval_hours_p90", "grants", "overdue"], "Sharing statistics")


@app.command()
def overdue(ctx: typer.Context,
            remind: bool = typer.Option(False, "--remind", help="record a reminder for each (once per stage)"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Offers and requests past their stage's time limit."""
    from govfabric.sharing_modes.process.service import public_overdue

    shares = get_fabric(ctx).shares
    rows = shares.remind() if remind else [public_overdue(x) for x in shares.overdue()]
    print_table(rows, ["item", "owner_department", "stage", "due_at", "overdue_hours", "notify"],
                "Reminded" if remind else "Overdue", as_json=as_json)


@app.command()
def limit(ctx: typer.Context, stage: str, hours: float) -> None:
    """Set the workspace's time limit for a stage (a reviewer or admin); a share's own --limit wins."""
    limits = get_fabric(ctx).shares.set_limit(stage, hours)
    console.print(", ".join(f"{k} {v:g}h" for k, v in limits.items()))


@app.command()
def schedule(ctx: typer.Context,
             every: str | None = typer.Option(None, "--every", help="interval, e.g. 1h"),
             cron: str | None = typer.Option(None, "--cron", help="5-field cron in UTC, e.g. '0 9 * * *'")) -> None:
    """Record overdue reminders periodically (the schedule job kind ``share_reminders``)."""
    job = get_fabric(ctx).schedule.add("share_reminders", "all", every=every, cron=cron, name="share_reminders")
    console.print(f"scheduled {job['name']}, next run {job['next_run_at']:%Y-%m-%d %H:%M:%S} UTC")
