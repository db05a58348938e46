"""``govfabric serve`` as a real uvicorn process: a signed ``Client`` call answers, errors become
``GovfabricError``s with the server's code, and SIGTERM stops it cleanly (lifespan shutdown)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from govfabric.auth import apps
from govfabric.client import Client
from govfabric.errors import AuthenticationRequired, GovfabricError
from tests.infra.serving import serving


def test_serve_answers_a_signed_client_and_stops_on_sigterm(served: Any, tmp_path: Path) -> None:
    issued = apps.add(served, "gs_system", department="市场监管局")
    with serving(served.settings.home, tmp_path / "serve.log") as server:
        with Client(server.url, issued.key_id, issued.secret) as client:
            assert client.whoami()["name"] == "gs_system"
            with pytest.raises(GovfabricError) as caught:
                client.get("/api/v1/query/no_such_service")
            assert caught.value.status == 404  # type: ignore[attr-defined]
        with Client(server.url, issued.key_id, "wrong-secret") as bad, \
                pytest.raises(AuthenticationRequired) as refused:
            bad.whoami()
        assert refused.value.code == "signature_invalid"  # type: ignore[attr-defined]
    out = server.output()
    assert server.returncode in (0, -signal.SIGTERM), out  # uvicorn re-raises the signal once shut down
    assert server.url in out
    assert "Application shutdown complete" in out and "Traceback" not in out
