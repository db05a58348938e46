"""`govfabric notifications …`: your notifications, and where else they go (webhook, e-mail)."""

from __future__ import annotations

import typer

from govfabric.cli.common import console, get_fabric, print_json, print_table

app = typer.Typer(help="Your notifications (in-app) and where else they go (webhook, e-mail).")


@app.command("list")
def list_(ctx: typer.Context, unread: bool = typer.Option(False, "--unread"),
          limit: int = typer.Option(100, "--limit", min=1, max=500),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Your notifications, newest first."""
    from govfabric.notify.service import message_dict

    rows = [message_dict(n) for n in get_fabric(ctx).notifications.list(unread=unread, limit=limit)]
    print_table(rows, ["id", "created_at", "sender", "subject", "read", "link"], "Notifications", as_json=as_json)


@app.command()
def read(ctx: typer.Context, notification_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one of your notifications and mark it read."""
    from rich.markup import escape

    from govfabric.notify.service import message_dict

    n = message_dict(get_fabric(ctx).notifications.read(notification_id))
    if as_json:
        print_json(n)
        return
    console.print(f"[bold]{escape(n['subject'])}[/bold] from {n['sender']} at {n['created_at']:%Y-%m-%d %H:%M}")
    console.print(escape(n["body"]))
    if n["link"]:
        console.print(escape(n["link"]))


@app.command()
def settings(ctx: typer.Context,
             email: str | None = typer.Option(None, "--email", help="also send by e-mail (needs smtp_url)"),
             webhook: str | None = typer.Option(None, "--webhook", help="also POST, signed, to this URL"),
             clear_email: bool = typer.Option(False, "--clear-email"),
             clear_webhook: bool = typer.Option(False, "--clear-webhook"),
             new_secret: bool = typer.Option(False, "--new-secret", help="make a new webhook secret"),
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Show or set where your notifications go besides in-app. A new webhook secret is shown once."""
    n = get_fabric(ctx).notifications
    if any((email, webhook, clear_email, clear_webhook, new_secret)):
        view = n.configure(email=email, webhook_url=webhook, clear_email=clear_email,
                           clear_webhook=clear_webhook, new_webhook_secret=new_secret)
    else:
        view = n.settings()
    if as_json:
        print_json(vars(view))
        return
    console.print(f"e-mail: {view.email or '-'}\nwebhook: {view.webhook_url or '-'}")
    if view.webhook_secret:
        console.print(f"webhook secret (shown once, keep it): {view.webhook_secret}")
