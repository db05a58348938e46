"""`govfabric topic …`: information sync (§8.4.2.9): topics, replies, attachments, search."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from govfabric.cli.common import console, get_fabric, print_json, print_table

app = typer.Typer(help="Information sync (§8.4.2.9): topics, replies, attachments, search.")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@app.command()
def types(as_json: bool = typer.Option(False, "--json")) -> None:
    """The topic types."""
    from govfabric.sharing_modes.sync.service import TYPES

    print_table([{"type": k, "label": v} for k, v in TYPES.items()], ["type", "label"], "Topic types",
                as_json=as_json)


@app.command()
def start(ctx: typer.Context,
          type: str = typer.Option(..., "--type", help="notice | question | discussion | request | feedback"),
          title: str = typer.Option(..., "--title"), body: str = typer.Option(..., "--body"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Start a topic (any signed-in principal)."""
    from govfabric.sharing_modes.sync.service import topic_dict

    row = get_fabric(ctx).topics.start(type, title, body)
    if as_json:
        print_json(topic_dict(row))
    else:
        console.print(f"started topic {row.id}")


@app.command()
def edit(ctx: typer.Context, topic_id: str,
         type: str | None = typer.Option(None, "--type"), title: str | None = typer.Option(None, "--title"),
         body: str | None = typer.Option(None, "--body")) -> None:
    """Change your topic's type, title or body."""
    row = get_fabric(ctx).topics.edit(topic_id, type=type, title=title, body=body)
    console.print(f"edited topic {row.id}")


@app.command()
def delete(ctx: typer.Context, topic_id: str) -> None:
    """Delete your topic (an admin may delete any), with its replies and attachments."""
    get_fabric(ctx).topics.delete(topic_id)
    console.print(f"deleted topic {topic_id}")


@app.command()
def show(ctx: typer.Context, topic_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """A topic with its replies and attachments."""
    t = get_fabric(ctx).topics.get(topic_id)
    if as_json:
        print_json(t)
        return
    console.print(f"[bold]{_escape(t['title'])}[/bold] ({t['type']}, {t['starter']}, "
                  f"{t['created_at']:%Y-%m-%d %H:%M})")
    console.print(_escape(t["body"]))
    for r in t["replies"]:
        console.print(f"\n[dim]{r['author']} {r['created_at']:%Y-%m-%d %H:%M} ({r['id']})[/dim]")
        console.print(_escape(r["body"]))
    if t["attachments"]:
        print_table(t["attachments"], ["id", "name", "media_type", "size", "uploaded_by"], "Attachments")


@app.command()
def search(ctx: typer.Context,
           text: str | None = typer.Option(None, "--text", help="in the title, body or a reply"),
           type: str | None = typer.Option(None, "--type"),
           starter: str | None = typer.Option(None, "--starter"),
           replier: str | None = typer.Option(None, "--replier", help="someone who replied"),
           since: datetime | None = typer.Option(None, "--since", help="created at or after (UTC)"),
           until: datetime | None = typer.Option(None, "--until", help="created before (UTC)"),
           limit: int = typer.Option(100, "--limit", min=1, max=500),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Search topics, newest first."""
    rows = get_fabric(ctx).topics.search(text=text, type=type, starter=starter, replier=replier,
                                         since=since, until=until, limit=limit)
    print_table(rows, ["id", "type", "title", "starter", "replies", "created_at"], "Topics", as_json=as_json)


@app.command()
def reply(ctx: typer.Context, topic_id: str, body: str = typer.Option(..., "--body"),
          as_json: bool = typer.Option(False, "--json")) -> None:
    """Reply to a topic; its starter is notified."""
    from govfabric.sharing_modes.sync.service import reply_dict

    row = get_fabric(ctx).topics.reply(topic_id, body)
    if as_json:
        print_json(reply_dict(row))
    else:
        console.print(f"replied {row.id}")


@app.command()
def attach(ctx: typer.Context, topic_id: str,
           file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
           name: str | None = typer.Option(None, "--name", help="the name shown; default: the file's"),
           reply_id: str | None = typer.Option(None, "--reply", help="attach to this reply of yours"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Attach a file to your topic (or to your reply with --reply)."""
    from govfabric.sharing_modes.sync.service import attachment_dict

    def chunks():  # type: ignore[no-untyped-def]
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 16):
                yield chunk

    row = get_fabric(ctx).topics.attach(topic_id, name or file.name, chunks(), reply_id=reply_id)
    if as_json:
        print_json(attachment_dict(row))
    else:
        console.print(f"attached {_escape(row.name)} ({row.media_type}, {row.size} bytes) as {row.id}")


@app.command()
def download(ctx: typer.Context, topic_id: str, attachment_id: str,
             output: str = typer.Option(..., "--output", "-o", help="a path under the export root")) -> None:
    """Save an attachment under the export root."""
    import shutil

    from govfabric.outputs import atomic_open, export_path, export_root

    fabric = get_fabric(ctx)
    row, path = fabric.topics.attachment(topic_id, attachment_id)
    target = export_path(fabric.settings, output)
    with path.open("rb") as src, atomic_open(target, export_root(fabric.settings)) as dst:
        shutil.copyfileobj(src, dst)
    console.print(f"saved {_escape(row.name)} to {target}")
