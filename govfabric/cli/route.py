"""``govfabric route`` — service routing (§8.4.2.3e): providers of a query service, its policy, health."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, get_fabric, print_table
from govfabric.errors import ValidationFailed

app = typer.Typer(help="Service routing: providers of a service, policies, health, failover.", no_args_is_help=True)
provider_app = typer.Typer(help="Providers (govfabric servers) of a routed service.", no_args_is_help=True)
app.add_typer(provider_app, name="provider")
OptStr = Optional[str]  # noqa: UP045 (typer needs Optional)
OptInt = Optional[int]  # noqa: UP045
OptFloat = Optional[float]  # noqa: UP045
PROVIDER_COLUMNS = ["service", "url", "weight", "region", "app_id", "state"]


@provider_app.command("add")
def provider_add(
    ctx: typer.Context,
    service: str = typer.Argument(..., help="the query service's name, e.g. ent_lookup"),
    url: str = typer.Argument(..., help="the provider server's base URL, e.g. https://fabric.dept.gov.cn"),
    app_id: str = typer.Option(..., "--app-id", help="the app (key id) the gateway signs as at the provider"),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="read the app's secret from standard input"),
    weight: int = typer.Option(1, "--weight", help="share of calls under the weighted policy"),
    region: OptStr = typer.Option(None, "--region", help="region attribute, matched against callers' under the "
                                  "region policy"),
) -> None:
    """Register a provider of a query service (the secret is sealed; never give it as an argument)."""
    if not secret_stdin:
        raise ValidationFailed("pass the provider app's secret on standard input with --secret-stdin")
    secret = sys.stdin.readline().strip()
    got = get_fabric(ctx).routes.add_provider(service, url, app_id=app_id, secret=secret, weight=weight,
                                              region=region)
    console.print(f"[bold]{escape(got.url)}[/bold] provides {escape(got.service)} (weight {got.weight}"
                  f"{', region ' + escape(got.region) if got.region else ''}): "
                  f"GET /api/v1/routed/query/{escape(got.service)}")


@provider_app.command("list")
def provider_list(ctx: typer.Context, service: str = typer.Argument(None, help="one service (default: all)"),
                  as_json: bool = JSON_OPTION) -> None:
    """Providers and their breaker's state in this process (a server keeps its own)."""
    rows = [asdict(p) for p in get_fabric(ctx).routes.providers(service)]
    print_table(rows, PROVIDER_COLUMNS, "Providers", as_json)


@provider_app.command("remove")
def provider_remove(ctx: typer.Context, service: str, url: str) -> None:
    """Stop routing a service's calls to a provider."""
    get_fabric(ctx).routes.remove_provider(service, url)
    console.print(f"{escape(url)} no longer provides {escape(service)}")


@app.command("policy")
def route_policy(
    ctx: typer.Context,
    service: str,
    policy: str = typer.Argument(..., help="round-robin, weighted or region"),
    failures: OptInt = typer.Option(None, "--failures", help="failures within --window that open a breaker"),
    window: OptFloat = typer.Option(None, "--window", help="seconds"),
    cooldown: OptFloat = typer.Option(None, "--cooldown", help="seconds an open breaker waits for its probe"),
) -> None:
    """Set a routed service's policy and its circuit breakers' settings."""
    get_fabric(ctx).routes.set_policy(service, policy, failures=failures, window_s=window, cooldown_s=cooldown)
    console.print(f"{escape(service)} is routed {escape(policy)}")


@app.command("list")
def route_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Routed services and their policies."""
    rows = [{"service": r.name, "kind": r.kind, "policy": r.policy, "failures": r.failures, "window_s": r.window_s,
             "cooldown_s": r.cooldown_s} for r in get_fabric(ctx).routes.services()]
    print_table(rows, ["service", "kind", "policy", "failures", "window_s", "cooldown_s"], "Routed services", as_json)


@app.command("health")
def route_health(ctx: typer.Context, service: str = typer.Argument(None, help="one service (default: all)"),
                 as_json: bool = JSON_OPTION) -> None:
    """Probe each provider's /readyz now."""
    rows = [asdict(h) for h in get_fabric(ctx).routes.check(service)]
    print_table(rows, ["service", "url", "ok", "detail", "state"], "Provider health", as_json)
    if any(not r["ok"] for r in rows):
        raise typer.Exit(1)
