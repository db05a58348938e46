"""A real ``govfabric serve`` process for end-to-end tests: started on a free port, waited for on
``/healthz``, stopped with SIGTERM (lifespan shutdown) — the one way tests start a server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    returncode: int | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


BIND_RACE = "address already in use"


def _start(home: str | Path, log: Path, args: tuple[str, ...], env: dict[str, str] | None,
           timeout: float, port: int) -> tuple[Served, bool]:
    """Start the server and wait until it is healthy (True), has died, or ``timeout`` passed."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "govfabric.cli.main", "--home", str(home), "serve",
                                 "--port", str(port), *args], env=environ, stdout=out, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", port, proc, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                return served, True
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() >= deadline:
            return served, False
        time.sleep(0.2)


@contextmanager
def serving(home: str | Path, log: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60, port: int | None = None) -> Iterator[Served]:
    """``govfabric --home HOME serve --port P ARGS…`` until the block ends; its output goes to ``log``.
    Fails the test (with the server's output) if it dies or is not healthy within ``timeout`` s.

    A port picked here can be taken (as someone's ephemeral port) before the server binds it; then
    the server is started again on another one — unless the caller fixed the port."""
    for attempt in range(3):
        served, healthy = _start(home, log, args, env, timeout, port or free_port())
        if healthy or port is not None or BIND_RACE not in served.output() or attempt == 2:
            break
    proc = served.proc
    try:
        assert healthy, "the server did not come up:\n" + served.output()
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            served.returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise


class InProcess(httpx.BaseTransport):
    """``Client``'s httpx transport onto a ``TestClient``: the served app without a port (Starlette's
    own transport speaks httpx2, so ``TestClient(app)._transport`` cannot be handed to an ``httpx.Client``)."""

    def __init__(self, test_client: TestClient) -> None:
        self.test_client = test_client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        got = self.test_client.request(request.method, str(request.url), content=request.read(),
                                       headers=list(request.headers.multi_items()))
        return httpx.Response(got.status_code, headers=list(got.headers.multi_items()), content=got.content)
