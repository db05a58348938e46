"""``govfabric`` — the command line entry point."""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import click
import typer
from rich.markup import escape

from govfabric.cli.common import err_console, state
from govfabric.errors import GovfabricError

app = typer.Typer(
    name="govfabric",
    help="A data fabric and sharing hub for government data (GB/T 40756-2021 §8).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# command groups: (module[:attribute], name); the attribute defaults to `app`
GROUPS = (
    ("govfabric.cli.principal", "principal"),
    ("govfabric.cli.source", "source"),
    ("govfabric.cli.catalog", "catalog"),
    ("govfabric.cli.audit", "audit"),
    ("govfabric.cli.virtual:vt_app", "vt"),
    ("govfabric.cli.virtual:view_app", "view"),
    ("govfabric.cli.access:access_app", "access"),
    ("govfabric.cli.access:policy_app", "policy"),
    ("govfabric.cli.standards", "standards"),
    ("govfabric.cli.metadata", "metadata"),
    ("govfabric.cli.quality", "quality"),
    ("govfabric.cli.security", "security"),
    ("govfabric.cli.lineage", "lineage"),
    ("govfabric.cli.schedule", "schedule"),
    ("govfabric.cli.chain", "chain"),
    ("govfabric.cli.mpc", "mpc"),
    ("govfabric.cli.subscription", "subscription"),
    ("govfabric.cli.dataset", "dataset"),
    ("govfabric.cli.app", "app"),
    ("govfabric.cli.token", "token"),
    ("govfabric.cli.query_api", "api"),
    ("govfabric.cli.prefill:item_app", "item"),
    ("govfabric.cli.prefill:prefill_app", "prefill"),
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


for target, name in GROUPS:
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:  # a group whose module is not in this build
        if exc.name != module:
            raise
        continue
    app.add_typer(getattr(mod, attr or "app"), name=name)

for module in ("govfabric.cli.workspace", "govfabric.cli.sql", "govfabric.cli.schedule", "govfabric.cli.serve"):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        continue
    if hasattr(mod, "register"):
        mod.register(app)


def _usage_errors() -> tuple[type[Exception], ...]:
    """Click's usage errors — from click itself and from the copy typer ≥ 0.24 vendors."""
    try:
        from typer._click.exceptions import ClickException as Vendored
    except ImportError:
        return (click.ClickException,)
    return (click.ClickException, Vendored)


_ABORT = (click.exceptions.Abort, typer.Abort)
_EXIT = (click.exceptions.Exit, typer.Exit)
_USAGE = _usage_errors()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; errors users can act on print as one line, with a non-zero exit."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = app(args=args, standalone_mode=False, prog_name="govfabric")
    except GovfabricError as exc:
        if debug:
            err_console.print_exception()
        err_console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except _ABORT:
        err_console.print("aborted")
        return 130
    except _EXIT as exc:
        return int(exc.exit_code)  # type: ignore[attr-defined]
    except _USAGE as exc:
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
    sys.exit(run())


if __name__ == "__main__":
    entry()
