"""Top-level commands: ``init``, ``demo``, ``status``."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.markup import escape

from govfabric.cli.common import JSON_OPTION, console, open_reader, print_json, state
from govfabric.config import DEFAULT_USER


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        ctx: typer.Context,
        store_url: Optional[str] = typer.Option(  # noqa: UP045
            None, "--store-url", help="metadata store; default SQLite in the workspace, or postgresql://…; "
                                      "a password in it is sealed with the workspace key"),
        store_password_env: Optional[str] = typer.Option(  # noqa: UP045
            None, "--store-password-env", help="read the store's password from this environment variable"),
        admin: str = typer.Option("admin", help="name of the first administrator"),
        department: Optional[str] = typer.Option(None, help="the administrator's department"),  # noqa: UP045
    ) -> None:
        """Create a workspace (or bring an existing one's store up to date)."""
        from govfabric.fabric import init_workspace

        st = state(ctx)
        fabric = init_workspace(st.home, store_url=store_url, store_password_env=store_password_env,
                                admin=admin, department=department)
        console.print(f"workspace ready at [bold]{fabric.settings.home}[/bold] "
                      f"(store: {escape(fabric.store.safe_url)}); acting user: {fabric.user}")

    @app.command("upgrade")
    def upgrade(ctx: typer.Context) -> None:
        """Run the store's pending schema migrations (under a lock; audited). Back up the store first."""
        from govfabric.fabric import upgrade_workspace

        st = state(ctx)
        before, after = upgrade_workspace(st.home, st.user)
        if before == after:
            console.print("the store is up to date; nothing to migrate")
        else:
            console.print(f"store migrated: {', '.join(before) or 'empty'} → {', '.join(after)}")

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        scale: int = typer.Option(1, min=1, max=100, help="data volume multiplier"),
        seed: int = typer.Option(20211001, help="random seed (the demo is deterministic)"),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Build a realistic multi-department workspace from synthetic data, then tour it."""
        from govfabric.demo.build import build_demo, tour
        from govfabric.fabric import connect

        st = state(ctx)
        t0 = time.perf_counter()
        summary = build_demo(st.home, scale=scale, seed=seed, progress=not as_json)
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        if as_json:
            print_json(summary)
        else:
            tour(connect(st.home, summary["steward"]), summary)

    @app.command("status")
    def status(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
        """Where the workspace is, who you act as, and what it holds."""
        # neither the façade, the ORM nor any module's models load; nor SQLAlchemy on SQLite (issue 15)
        from govfabric.store.summary import summarise

        st = state(ctx)
        settings, store = open_reader(st.home)
        try:
            user = st.user or settings.user or DEFAULT_USER
            found = summarise(store, user)
            data = {"home": str(settings.home), "store": store.safe_url, "user": user, "roles": found.roles,
                    "sources": found.sources, "assets": found.assets, "audit_events": found.audit_events,
                    "audit_head": found.audit_head}
        finally:
            store.dispose()
        if as_json:
            print_json(data)
        else:
            for k, v in data.items():
                console.print(f"[dim]{k:>13}[/dim]  {escape(str(v))}")

