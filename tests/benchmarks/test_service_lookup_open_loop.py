"""The open-loop driver of ``benchmarks/service_lookup.py`` against a real HTTP/1.1 server: every
line is sent once at the offered rate over kept-alive connections, and non-2xx answers are counted."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import service_lookup


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Signature")))
        status = 401 if "refuse" in self.path else 200
        body = b'{"rows": []}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Handler.seen = []
    yield server.server_address[1]
    server.shutdown()


def test_open_loop_sends_each_line_once_and_counts_refusals(tmp_path: Path, port: int) -> None:
    lines = tmp_path / "lines.txt"
    paths = [f"/ok?i={i}" for i in range(38)] + ["/refuse?i=38", "/refuse?i=39"]
    lines.write_text("".join(f"{p}\tSignature: sig{i}\n" for i, p in enumerate(paths)))
    got = service_lookup.open_loop(port, lines, rate=100, duration=0.4, connections=4)
    assert got["requests"] == 40 and got["non_2xx"] == 2
    assert sorted(_Handler.seen) == sorted((p, f"sig{i}") for i, p in enumerate(paths))
    assert got["p50_ms"] > 0 and got["p99_ms"] >= got["p50_ms"]


def test_open_loop_offers_only_what_the_duration_allows(tmp_path: Path, port: int) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"/ok?i={i}\n" for i in range(100)))
    got = service_lookup.open_loop(port, lines, rate=50, duration=0.2, connections=2)
    assert got["requests"] == 10 and len(_Handler.seen) == 10 and got["non_2xx"] == 0
