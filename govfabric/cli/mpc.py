"""``govfabric mpc …``: run a party service, act as a party, verify reports, run the demo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(help="Secure multi-party computation: party services, tasks, reports.", no_args_is_help=True)
task_app = typer.Typer(help="Create, review and follow MPC tasks.", no_args_is_help=True)
app.add_typer(task_app, name="task")

STATE = typer.Option(..., "--state", help="this party's state directory (holds its keys and admin token)")


@app.command()
def serve(
    role: str = typer.Option(..., help="requester | provider | scheduler | compute | monitor"),
    port: int = typer.Option(..., help="TCP port to listen on"),
    state: Path = STATE,
    host: str = typer.Option("127.0.0.1", help="bind address (loopback by default)"),
    directory: Path | None = typer.Option(None, help="directory.json with every party's URL and public key"),
    party_id: str | None = typer.Option(None, "--id", help="party id in the directory (default: the role)"),
    alg: str = typer.Option("ed25519", help="signature algorithm: ed25519 or sm2"),
    data: str | None = typer.Option(None, help="provider data reader, e.g. duckdb:/path/db.duckdb"),
) -> None:
    """Run one party as an HTTP service (each party in its own process, with its own keys)."""
    from govfabric.mpc.serve import serve as run

    run(role, port, state, host=host, directory=directory, party_id=party_id, alg=alg, data=data)


@task_app.command("create")
def task_create(
    spec_file: Path = typer.Argument(..., help="task spec (JSON): title, sources, computation"),
    requester: str = typer.Option(..., help="requester service URL"),
    state: Path = STATE,
) -> None:
    """Sign a task as the result requester and send it to the scheduler."""
    from govfabric.cli.common import read_json_file
    from govfabric.mpc.client import PartyHandle

    typer.echo(PartyHandle(requester, state).create_task(read_json_file(spec_file, "the task spec")))


@task_app.command("review")
def task_review(
    task_id: str,
    provider: str = typer.Option(..., help="provider service URL"),
    state: Path = STATE,
    approve: bool = typer.Option(False, "--approve"),
    reject: bool = typer.Option(False, "--reject"),
    reason: str = typer.Option("", help="reason recorded with the decision"),
) -> None:
    """Show exactly which columns and computation a task asks of this provider; approve or reject it."""
    from govfabric.errors import ValidationFailed
    from govfabric.mpc.client import PartyHandle

    handle = PartyHandle(provider, state)
    if approve and reject:
        raise ValidationFailed("choose --approve or --reject, not both")
    seen = [t for t in handle.pending() if t["task_id"] == task_id]
    if seen:
        typer.echo(json.dumps(seen[0], indent=2, ensure_ascii=False))
    if approve or reject:
        handle.review(task_id, "approve" if approve else "reject", reason)
        typer.echo("approved" if approve else "rejected")


@task_app.command("status")
def task_status(task_id: str, scheduler: str = typer.Option(..., help="scheduler service URL")) -> None:
    """Status, current step and the step log of a task."""
    from govfabric.mpc.client import PartyHandle

    typer.echo(json.dumps(PartyHandle(scheduler).status(task_id), indent=2, ensure_ascii=False))


@task_app.command("resume")
def task_resume(task_id: str, scheduler: str = typer.Option(...), state: Path = STATE) -> None:
    """Continue a stalled task from the step where it stopped."""
    from govfabric.mpc.client import PartyHandle

    typer.echo(json.dumps(PartyHandle(scheduler, state).resume(task_id)))


@task_app.command("result")
def task_result(task_id: str, requester: str = typer.Option(...), state: Path = STATE) -> None:
    """The decrypted result (only the requester can read it)."""
    from govfabric.mpc.client import PartyHandle

    typer.echo(json.dumps(PartyHandle(requester, state).result(task_id), indent=2, ensure_ascii=False))


@task_app.command("report")
def task_report(task_id: str, scheduler: str = typer.Option(...), out: Path = typer.Option(...)) -> None:
    """Save the full-process report (JSON, plus HTML next to it)."""
    from govfabric.mpc.client import PartyHandle

    handle = PartyHandle(scheduler)
    out.write_bytes(handle.report(task_id))
    out.with_suffix(".html").write_bytes(handle.report(task_id, "html"))
    typer.echo(str(out))


def _verify(report: Path, keys: Path | None) -> None:
    from govfabric.mpc.envelope import Directory
    from govfabric.mpc.report import verify

    summary = verify(report.read_bytes(), Directory.load(keys) if keys else None)
    typer.echo(
        f"report OK: task {summary['task_id']}, {summary['steps']} steps, {summary['signatures']} signatures verified"
    )


@app.command("verify")
def verify_cmd(report: Path, keys: Path | None = typer.Option(None, help="trusted directory.json to pin keys")) -> None:
    """Verify a report offline; fails on any altered byte."""
    _verify(report, keys)


@task_app.command("verify")
def task_verify(report: Path, keys: Path | None = typer.Option(None)) -> None:
    """Same as ``govfabric mpc verify``."""
    _verify(report, keys)


@app.command()
def demo(
    workdir: Path | None = typer.Option(None, help="where to put data, party states and the report"),
    alg: str = typer.Option("ed25519", help="signature algorithm of every party: ed25519 or sm2"),
) -> None:
    """Run the whole flow with three providers and print each step and the result."""
    import tempfile

    from govfabric.mpc.demo import run

    if workdir is not None:
        run(workdir, echo=typer.echo, alg=alg)
        return
    with tempfile.TemporaryDirectory(prefix="govfabric-mpc-") as tmp:
        run(Path(tmp), echo=typer.echo, alg=alg)
    typer.echo(f"removed the temporary folder {tmp}; give --workdir DIR to keep the data, party states and report")
