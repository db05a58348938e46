"""Lineage forwarding is off the query path: a slow or dead consumer never holds up a query."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from govfabric.governance.lineage import transport
from govfabric.governance.lineage.models import LineageEvent

QUERY = "SELECT count(*) AS n FROM market.enterprise"


@pytest.fixture
def demo(demo):
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", only=["qymc", "qx"])
    return demo


class _Slow(BaseHTTPRequestHandler):
    got: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        time.sleep(5)
        type(self).got.append(body)
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _timed_query(fabric) -> float:
    t0 = time.perf_counter()
    fabric.sql(QUERY)
    return time.perf_counter() - t0


def test_a_slow_consumer_does_not_hold_up_queries(demo) -> None:
    demo.sql(QUERY)  # warm: attach and plan caches
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        demo.settings.lineage_url = f"http://127.0.0.1:{server.server_port}"
        assert max(_timed_query(demo) for _ in range(3)) < 2.5  # the consumer takes 5 s per event
        demo.store.flush_deferred()  # the events, written (then forwarded) after the answers
        assert transport.flush(20)  # the worker delivers them, 5 s each
        assert len(_Slow.got) >= 3
        with demo.store.session() as s:
            forwarded = s.scalars(select(LineageEvent).where(LineageEvent.forwarded_at.is_not(None))).all()
        assert len(forwarded) >= 3
    finally:
        demo.settings.lineage_url = None
        server.shutdown()


def test_a_dead_consumer_does_not_slow_queries(demo) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.sql(QUERY)
    demo.settings.lineage_url = f"http://127.0.0.1:{port}"
    try:
        assert max(_timed_query(demo) for _ in range(3)) < 2.5
        demo.store.flush_deferred()
        assert transport.flush(20)
        with demo.store.session() as s:
            errors = s.scalars(select(LineageEvent.forward_error).where(LineageEvent.forward_error.is_not(None))).all()
        assert errors and all("cannot reach the lineage endpoint" in e for e in errors)
    finally:
        demo.settings.lineage_url = None


def test_a_full_queue_drops_and_counts() -> None:
    fw = transport.Forwarder(size=1)
    fw.queue.put_nowait(None)  # type: ignore[arg-type]  # occupy the only slot; no worker started
    assert fw.submit(None, "http://127.0.0.1:9", "e1", {}) is False  # type: ignore[arg-type]
    assert fw.dropped == 1
