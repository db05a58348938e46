"""``govfabric serve`` as a real uvicorn process: a signed ``Client`` call answers, errors become
``GovfabricError``s with the server's code, and SIGTERM stops it cleanly (lifespan shutdown)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from govfabric.auth import apps
from govfabric.client import Client
from govfabric.errors import AuthenticationRequired, GovfabricError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_a_signed_client_and_stops_on_sigterm(served: Any, tmp_path: Path) -> None:
    issued = apps.add(served, "gs_system", department="市场监管局")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "govfabric.cli.main", "--home", str(served.settings.home),
                             "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        with Client(url, issued.key_id, issued.secret) as client:
            assert client.whoami()["name"] == "gs_system"
            with pytest.raises(GovfabricError) as caught:
                client.get("/api/v1/query/no_such_service")
            assert caught.value.status == 404  # type: ignore[attr-defined]
        with Client(url, issued.key_id, "wrong-secret") as bad, pytest.raises(AuthenticationRequired) as refused:
            bad.whoami()
        assert refused.value.code == "signature_invalid"  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out = Path(log.name).read_text()
    assert rc in (0, -signal.SIGTERM), out  # uvicorn re-raises the signal once shut down
    assert f"http://127.0.0.1:{port}" in out
    assert "Application shutdown complete" in out and "Traceback" not in out
