"""``govfabric serve`` — the HTTP service plane (uvicorn with uvloop and httptools)."""

from __future__ import annotations

import os

import typer

from govfabric.cli.common import console, get_fabric


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: every interface)"),
        port: int = typer.Option(8040, min=0, max=65535, help="TCP port"),
        workers: int = typer.Option(1, min=1, max=64, help="worker processes"),
        log_level: str = typer.Option("info", help="critical | error | warning | info | debug"),
    ) -> None:
        """Serve the workspace's API: OpenAPI at /openapi.json, docs at /docs, probes at /healthz and
        /readyz, metrics at /metrics. Stops cleanly on SIGTERM or Ctrl-C."""
        import uvicorn

        fabric = get_fabric(ctx)  # refuse a missing workspace or unknown --as before listening
        os.environ["GOVFABRIC_HOME"] = str(fabric.settings.home)
        os.environ["GOVFABRIC_USER"] = fabric.user
        fabric.close()
        shown = f"[{host}]" if ":" in host else host
        console.print(f"govfabric serving {fabric.settings.home} at http://{shown}:{port} "
                      f"(OpenAPI: /openapi.json, docs: /docs; {workers} worker{'s' if workers > 1 else ''})")
        uvicorn.run("govfabric.server.app:from_env", factory=True, host=host, port=port, workers=workers,
                    loop="uvloop", http="httptools", log_level=log_level, timeout_graceful_shutdown=20,
                    proxy_headers=False)
