"""What every command group shares: the façade, output as tables or JSON, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from govfabric.errors import ConfigError, ValidationFailed

if TYPE_CHECKING:
    from govfabric.auth.secrets import SecretBox
    from govfabric.config import Settings
    from govfabric.fabric import Fabric
    from govfabric.store.db import Store
    from govfabric.store.summary import PostgresReader, SQLiteFile

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="print JSON instead of a table")


@dataclass
class CliState:
    home: str | None = None
    user: str | None = None
    debug: bool = False
    fabric: Fabric | None = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def get_fabric(ctx: typer.Context) -> Fabric:
    """The workspace façade for this invocation, opened once."""
    st = state(ctx)
    if st.fabric is None:
        st.fabric = open_workspace(st.home, st.user)
    return st.fabric


def open_workspace(home: str | None, user: str | None) -> Fabric:
    """:func:`connect`, with a damaged store or key file and an unknown ``--as`` principal refused
    up front in one clear line — read commands included, not at the first write."""
    from govfabric.fabric import connect

    with _refusing_damage(home):
        fabric = connect(home, user)
    _check_key(fabric.secrets)
    fabric.actor  # noqa: B018 -- resolves the principal now: unknown ones are refused by every command
    return fabric


def open_reader(home: str | None) -> tuple[Settings, Store | SQLiteFile | PostgresReader]:
    """The workspace's settings and store for ``status``, without the façade (see
    ``govfabric.store.workspace.open_reader``), refused as :func:`open_workspace` refuses them. The
    caller disposes the store."""
    from govfabric.auth.secrets import SecretBox
    from govfabric.store.workspace import open_reader as open_checked

    with _refusing_damage(home):
        settings, store = open_checked(home)
    try:
        _check_key(SecretBox(settings.resolved_key_file))
    except BaseException:
        store.dispose()
        raise
    return settings, store


@contextmanager
def _refusing_damage(home: str | None) -> Iterator[None]:
    """A file that is not a store, refused in one line that says what to do (SQLAlchemy's error, or
    ``sqlite3``'s when ``status`` read the file without SQLAlchemy)."""
    import sqlite3

    damaged: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    if "sqlalchemy.exc" in sys.modules:  # not imported just to catch its errors
        damaged += (sys.modules["sqlalchemy.exc"].DatabaseError,)
    try:
        yield
    except damaged as exc:
        cause = getattr(exc, "orig", None) or exc
        raise ConfigError(f"{_store_location(home)} is not a govfabric store ({_first_line(cause)}); "
                          "restore it from a backup or run `govfabric init` in another folder") from exc


def _check_key(secrets: SecretBox) -> None:
    try:
        secrets.ensure()
    except ValueError as exc:
        raise ConfigError(f"{secrets.key_file} is not a valid workspace key ({_first_line(exc)}); restore "
                          "it from a backup: stored passwords, masks and the audit chain depend on it") from exc


def _store_location(home: str | None) -> str:
    """Where the store is, for a message; without a password."""
    try:
        from govfabric.config import load_settings

        url = load_settings(home).resolved_store_url
    except Exception:  # the message must not fail: fall back to "the workspace store"
        return "the workspace store"
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_json(text: str, what: str) -> Any:
    """``text`` as JSON, or a :class:`ValidationFailed` naming ``what`` and where it broke."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"{what} is not valid JSON: {exc}") from None


def read_json_file(path: Path, what: str) -> Any:
    """A JSON file, or a clear error when it is missing, unreadable or not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{what} {path} cannot be read: {exc}") from None
    return parse_json(text, f"{what} {path}")


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    if hasattr(o, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(o)
    return str(o)


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_default))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None,
                as_json: bool = False) -> None:
    if as_json:
        print_json(list(rows))
        return
    from rich.table import Table  # here: a command that prints no table (`status`) does not load it

    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")  # qualified names wrap at 80 columns, never cut with …
    for r in rows:
        table.add_row(*[escape(_cell(r.get(c))) for c in columns])
    console.print(table)
    if not rows:
        console.print("[dim](none)[/dim]")


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def highlight(text: str) -> str:
    """Search marks (<em>…</em>) as rich markup, everything else escaped."""
    out = []
    for i, part in enumerate(text.replace("</em>", "<em>").split("<em>")):
        out.append(f"[bold yellow]{escape(part)}[/bold yellow]" if i % 2 else escape(part))
    return "".join(out)


def duration(ms: float | None) -> str:
    """A duration for people: ``850 ms``, ``3.2 s``, ``2 min 5 s``; ``n/a`` when nothing was measured."""
    if ms is None:
        return "n/a"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def interactive() -> bool:
    """Progress and spinners only when a person watches stderr: redirected, they would leave blank lines."""
    return err_console.is_terminal


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs (nothing when stderr is not a terminal)."""
    if not interactive():
        yield
        return
    with err_console.status(escape(message)):
        yield


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``update(label, done, total)``. Shown only when stderr is a
    terminal."""
    if not enabled or not interactive():
        yield lambda *_: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as p:
        task = p.add_task(description, total=None)

        def update(label: str, done: int, total: int) -> None:
            p.update(task, description=f"{description} {label}", completed=done, total=total)

        yield update
