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


def test_slo_search_keeps_the_last_rate_that_passed(tmp_path: Path, port: int) -> None:
    """Steps of x1.2 from 0.2x the closed-loop rate, each with fresh lines, until one fails twice
    running (a refused request in the third step, tried again): the second step's rate is the answer.
    A step failing once only (the second one's first try) is passed by its second try."""
    import argparse

    lines, asked = tmp_path / "lines.txt", []

    def lines_for(n: int) -> Path:
        asked.append(n)
        bad = len(asked) in (2, 4, 5)
        lines.write_text("".join(f"/{'refuse' if bad and i == 0 else 'ok'}?i={i}\n" for i in range(n)))
        return lines

    args = argparse.Namespace(slo_ms=1000.0, slo_duration=1, connections=4)
    got = service_lookup.slo_search(port, 100.0, lines_for, args)
    assert [round(s["offered_rps"], 1) for s in got["steps"]] == [20.0, 24.0, 24.0, 28.8, 28.8]
    assert [s["non_2xx"] for s in got["steps"]] == [0, 1, 0, 1, 1]
    assert got["max_rps"] == 24.0
    assert asked == [30, 34, 34, 38, 38]  # each try's lines: rate x duration, plus 10


def test_slo_search_reports_none_when_the_first_step_fails(tmp_path: Path, port: int) -> None:
    import argparse

    lines = tmp_path / "lines.txt"

    def lines_for(n: int) -> Path:
        lines.write_text("".join(f"/ok?i={i}\n" for i in range(n)))
        return lines

    args = argparse.Namespace(slo_ms=0.001, slo_duration=1, connections=2)  # no answer is that fast
    got = service_lookup.slo_search(port, 50.0, lines_for, args)
    assert got["max_rps"] is None and got["p99_ms"] is None and len(got["steps"]) == 2  # tried twice
