"""``govfabric`` — the command line entry point."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator, MutableMapping
from typing import Any, Optional

import typer
from rich.markup import escape
from typer import _click
from typer.core import TyperCommand, TyperGroup

from govfabric.cli.common import err_console, state
from govfabric.errors import GovfabricError

# Command groups: (module[:attribute], name, one-line help); the attribute defaults to `app`.
# `govfabric --help` lists the help from here without importing the module (a test fails when it
# differs from the typer app's help); a group's module is imported only when the group runs.
GROUPS = (
    ("govfabric.cli.principal", "principal", "Principals (people, applications, business systems) and their roles."),
    ("govfabric.cli.source", "source", "Data sources: databases and file folders, read in place."),
    ("govfabric.cli.catalog", "catalog", "The data-asset catalog (§8.4.1)."),
    ("govfabric.cli.audit", "audit", "The tamper-evident audit log."),
    ("govfabric.cli.virtual:vt_app", "vt", "Virtual tables: stable names over catalog assets."),
    ("govfabric.cli.virtual:view_app", "view", "Virtual views: SQL over virtual tables, versioned."),
    ("govfabric.cli.access:access_app", "access", "Access requests and grants (default deny)."),
    ("govfabric.cli.access:policy_app", "policy", "Column masks and row filters."),
    ("govfabric.cli.standards", "standards",
     "Data standards: data elements (数据元), naming rules, conformance (§8.4.4.1)."),
    ("govfabric.cli.metadata", "metadata", "Business and technical metadata linked to assets."),
    ("govfabric.cli.quality", "quality", "Data quality: rules on great-expectations, runs, work orders, remedies."),
    ("govfabric.cli.security", "security",
     "Personal data: PII detection, sensitivity, default masking, consent (§8.4.4.4)."),
    ("govfabric.cli.lineage", "lineage",
     "Lineage and provenance: where data comes from, where it goes, what breaks."),
    ("govfabric.cli.schedule", "schedule", "Scheduled harvests, quality runs and exports."),
    ("govfabric.cli.chain", "chain", "Blockchain: anchor digests, verify them, read sharing and grant history."),
    ("govfabric.cli.mpc", "mpc", "Secure multi-party computation: party services, tasks, reports."),
    ("govfabric.cli.subscription", "subscription", "Data service subscriptions: ordered ranges, pull and signed push."),
    ("govfabric.cli.dataset", "dataset",
     "Dataset files (§8.4.2.5): publish, preview, export, signed download links."),
    ("govfabric.cli.app", "app", "Business systems calling the API with signed requests (RFC 9421)."),
    ("govfabric.cli.token", "token", "Personal access tokens (Authorization: Bearer …)."),
    ("govfabric.cli.query_api", "api", "Conditional query services: named lookups business systems call."),
    ("govfabric.cli.share", "share",
     "Sharing process management (§8.4.2.10): offers, review, publish, requests, statistics."),
    ("govfabric.cli.delta", "delta", "Delta Sharing: recipients, profile files, shares and tables."),
    ("govfabric.cli.route", "route", "Service routing: providers of a service, policies, health, failover."),
    ("govfabric.cli.licence", "licence", "The e-licence library: licences with their files, by holder."),
    ("govfabric.cli.prefill:item_app", "item", "Service items (事项): form and material specs, versioned."),
    ("govfabric.cli.prefill:prefill_app", "prefill", "Form and material prefill for consenting applicants."),
    ("govfabric.cli.topic", "topic", "Information sync (§8.4.2.9): topics, replies, attachments, search."),
    ("govfabric.cli.notify", "notifications", "Your notifications (in-app) and where else they go (webhook, e-mail)."),
    ("govfabric.cli.dcat", "dcat", "The open catalogue as DCAT-AP 3 (Turtle, JSON-LD) for open-data portals."),
)

# Top-level commands that a module adds with its `register(app)`: (module, name, one-line help);
# listed before the groups, loaded the same lazy way.
COMMANDS = (
    ("govfabric.cli.workspace", "init", "Create a workspace (or bring an existing one's store up to date)."),
    ("govfabric.cli.workspace", "upgrade",
     "Run the store's pending schema migrations (under a lock; audited). Back up the store first."),
    ("govfabric.cli.workspace", "demo",
     "Build a realistic multi-department workspace from synthetic data, then tour it."),
    ("govfabric.cli.workspace", "status", "Where the workspace is, who you act as, and what it holds."),
    ("govfabric.cli.sql", "sql", "Run virtual SQL as you: only granted columns and rows, masks applied."),
    ("govfabric.cli.sql", "engine", "Query engines and the data access layer's monitoring."),
    ("govfabric.cli.schedule", "scheduler",
     "Run scheduled jobs until stopped (SIGTERM/Ctrl-C); one scheduler per workspace."),
    ("govfabric.cli.serve", "serve", "Serve the workspace's API: OpenAPI at /openapi.json, docs at /docs, "
     "probes at /healthz and /readyz, metrics at /metrics. Stops cleanly on SIGTERM or Ctrl-C."),
)

#: the typer app each loaded entry came from, built once per process: a module's `register` runs once
_SOURCES: dict[tuple[str, str], typer.Typer] = {}


def lazy_entries() -> dict[str, tuple[str, bool, str | None]]:
    """name → (target, added by `register(app)`, static help): COMMANDS first, then GROUPS. A line
    without its help still works (its module is then imported for `--help`); a test refuses it."""
    out: dict[str, tuple[str, bool, str | None]] = {}
    for table, registered in ((COMMANDS, True), (GROUPS, False)):
        for target, name, *help_ in table:
            out[name] = (target, registered, help_[0] if help_ else None)
    return out


def _present(target: str) -> bool:
    """Whether the entry's module is in this build (a build may leave command groups out)."""
    try:
        return importlib.util.find_spec(target.partition(":")[0]) is not None
    except ModuleNotFoundError:
        return False


def load_command(name: str, target: str, registered: bool) -> _click.Command | None:
    """The click command ``name`` of one entry, importing its module now; None when the module is absent."""
    module, _, attr = target.partition(":")
    key = (target, "" if registered else name)
    source = _SOURCES.get(key)
    if source is None:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a group whose module is not in this build
            if exc.name != module:
                raise
            return None
        source = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
        if registered:
            mod.register(source)
        else:
            source.add_typer(getattr(mod, attr or "app"), name=name)
        _SOURCES[key] = source
    return typer.main.get_group(source).commands.get(name)


class _LazyCommands(MutableMapping[str, _click.Command]):
    """The root's commands, each imported at its first lookup: iterating the names imports nothing."""

    def __init__(self, loaded: MutableMapping[str, _click.Command]) -> None:
        self._loaded = dict(loaded)
        self._lazy = {n: e for n, e in lazy_entries().items() if n not in self._loaded and _present(e[0])}

    def stub(self, name: str) -> _click.Command | None:
        """The command if loaded, else a stand-in with only its name and static help (for `--help`)."""
        entry = self._lazy.get(name)
        if name in self._loaded or entry is None or entry[2] is None:
            return self.get(name)
        return TyperCommand(name, help=entry[2])

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self._loaded and name in self._lazy:
            target, registered, _ = self._lazy[name]
            cmd = load_command(name, target, registered)
            if cmd is None:
                del self._lazy[name]
            else:
                self._loaded[name] = cmd
        return self._loaded[name]

    def __setitem__(self, name: str, cmd: _click.Command) -> None:
        self._loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        self._lazy.pop(name, None)
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._lazy
        yield from (n for n in self._loaded if n not in self._lazy)

    def __len__(self) -> int:
        return len(self._lazy.keys() | self._loaded.keys())


#: what `typer.rich_utils` imports for features govfabric's help never uses (markdown help text;
#: pretty tracebacks, which are off): ≈ 0.1 s CPU, a third of `govfabric --help`
_UNUSED_BY_HELP = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


def _stand_in(module: str, name: str) -> types.ModuleType:
    """A module whose class ``name`` builds the real one (imported then) when ever called."""
    def real() -> Any:
        return getattr(importlib.import_module(module), name)

    class StandIn:
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            return real()(*args, **kwargs)

        @classmethod
        def from_exception(cls, *args: Any, **kwargs: Any) -> Any:
            return real().from_exception(*args, **kwargs)

    StandIn.__name__ = StandIn.__qualname__ = name
    mod = types.ModuleType(module)
    setattr(mod, name, StandIn)
    return mod


def light_help_formatter() -> None:
    """Import typer's help formatter with stand-ins for the two modules it imports but govfabric's
    help does not use; they are taken out of ``sys.modules`` again, so any other import is real."""
    if "typer.rich_utils" in sys.modules:
        return
    placed = [m for m, _ in _UNUSED_BY_HELP if m not in sys.modules]
    for module, name in _UNUSED_BY_HELP:
        if module in placed:
            sys.modules[module] = _stand_in(module, name)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module in placed:
            del sys.modules[module]


class LazyGroup(TyperGroup):
    """The root group: `--help` lists COMMANDS and GROUPS from their static help, importing none of
    them; running a command imports its module only. Start-up stays fast however many groups exist."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)
        self._listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if self._listing:
            return self.commands.stub(cmd_name)  # type: ignore[attr-defined]
        return self.commands.get(cmd_name)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        light_help_formatter()
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyGroup,
    name="govfabric",
    help="A data fabric and sharing hub for government data (GB/T 40756-2021 §8).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    """``--version``: the installed package's version, from its metadata."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("govfabric")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from govfabric import __version__ as v
    typer.echo(f"govfabric {v}")
    raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    home: Optional[str] = typer.Option(None, "--home", envvar="GOVFABRIC_HOME",  # noqa: UP045 (typer)
                                       help="workspace folder (default ./.govfabric)"),
    user: Optional[str] = typer.Option(None, "--as", envvar="GOVFABRIC_USER",  # noqa: UP045
                                       help="act as this principal"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    st = state(ctx)
    st.home, st.user, st.debug = home, user, debug


def _caught() -> tuple[tuple[type[BaseException], ...], ...]:
    """(abort, exit, usage) errors: typer's and its vendored click's, and real click's only when some
    module imported click (importing it just to catch its errors would slow every start)."""
    from typer._click.exceptions import ClickException

    abort: tuple[type[BaseException], ...] = (typer.Abort,)
    exit_: tuple[type[BaseException], ...] = (typer.Exit,)
    usage: tuple[type[BaseException], ...] = (ClickException,)
    click = sys.modules.get("click")
    if click is not None:
        abort, exit_, usage = ((*abort, click.exceptions.Abort), (*exit_, click.exceptions.Exit),
                               (*usage, click.ClickException))
    return abort, exit_, usage


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; errors users can act on print as one line, with a non-zero exit."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if "--help" in args or not args:  # a group's or a command's help too
        light_help_formatter()
    try:
        result = app(args=args, standalone_mode=False, prog_name="govfabric")
    except GovfabricError as exc:
        if debug:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except _caught()[0]:
        err_console.print("aborted")
        return 130
    except _caught()[1] as exc:
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except _caught()[2] as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback unless asked
        if debug:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/bold red] {escape(unexpected_message(exc))}"
                          + ("" if debug else " (run with --debug for the traceback)"),
                          highlight=False, soft_wrap=True)
        return 1
    return result if isinstance(result, int) else 0


def unexpected_message(exc: BaseException) -> str:
    """One line for an error no module turned into a :class:`GovfabricError`: files that cannot be
    read or written name the file and the reason; anything else its type and message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file or value is not valid text ({exc.reason}); give a UTF-8 file"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def entry() -> None:
    exit_without_teardown(run())


def exit_without_teardown(code: int) -> None:
    """End the console process as exit would, minus the interpreter's teardown: finalizing what a
    command imported (great-expectations, the EVM, polars…) costs ≈ 1 s of CPU and does nothing a
    finished command needs. Done first, as exit does: threading's shutdown (its exit hooks, which tell
    idle thread pools to stop, then non-daemon threads joined), atexit handlers (logging's, weakref
    finalizers), output flushed. Only here: ``run`` is called in-process too."""
    import atexit
    import contextlib
    import os
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter's exit runs first (a pool's idle workers would never end)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
