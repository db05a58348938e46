"""Webhook push of N changed rows through a data service subscription (issue 11; report only).

Setup (not timed): a SQLite source table ``qy`` of N rows, a workspace (SQLite store) where a
steward maps it as ``market.enterprise``; ``analyst1`` orders a push subscription (key ``uscc``,
three columns; snapshot diff on the key, or ``--change-column version``) to a local receiver
(a threaded ``http.server`` in this process that checks every delivery's signature and counts
its changes), and the steward approves it.

Measured (``subscriptions.run(sid, drain=True)`` as the steward, wall clock until the receiver
holds every change):
1. the first run: every row is new (N inserts);
2. after ``UPDATE qy SET capital = capital + 1, version = version + 1`` on every row: N updates.
Reported: seconds, changed rows/s, deliveries and deliveries/s. A delivery carries up to
``PUSH_BATCH`` (1,000) changes, so N rows are N/1,000 requests, not N.

    python benchmarks/service_push.py [--rows 100000] [--change-column]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import common


class Receiver:
    """A local webhook receiver: verifies each delivery, counts changes, notes the last arrival."""

    def __init__(self) -> None:
        self.secret = ""
        self.changes = 0
        self.deliveries = 0
        self.bad = 0
        self.ids: set[str] = set()
        self.last = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from govfabric.sharing_modes.data_service import delivery

                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                ok = delivery.verify(receiver.secret, dict(self.headers.items()), body)
                with receiver.lock:
                    if not ok:
                        receiver.bad += 1
                    else:
                        payload = json.loads(body)
                        if payload["delivery"] not in receiver.ids:  # at least once: count each delivery once
                            receiver.ids.add(payload["delivery"])
                            receiver.changes += len(payload["changes"])
                            receiver.deliveries += 1
                    receiver.last = time.perf_counter()
                self.send_response(200 if ok else 401)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def create_source(path: Path, rows: int) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE qy (uscc TEXT PRIMARY KEY, name TEXT, district TEXT, capital REAL, version INTEGER)")
    con.executemany("INSERT INTO qy VALUES (?, ?, ?, ?, 1)",
                    ((f"913501{i:011d}X", f"企业{i}", str(350100 + i % 13), i % 100000 * 10.5) for i in range(rows)))
    con.commit()
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--change-column", action="store_true", help="detect by the version column, not a snapshot diff")
    args = ap.parse_args()
    from govfabric.fabric import init_workspace
    from govfabric.sharing_modes.data_service.service import PUSH_BATCH

    results: dict[str, Any] = {"rows": args.rows, "push_batch": PUSH_BATCH, "change_column": args.change_column,
                               "load_before": [round(x, 2) for x in os.getloadavg()]}
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="gf-push-") as tmp_:
        tmp = Path(tmp_)
        create_source(tmp / "mr.db", args.rows)
        fabric = init_workspace(tmp / "ws")
        try:
            fabric.settings.data_service_allow_loopback = True
            fabric.add_principal("steward1", ["steward"], department="市场监管局")
            fabric.add_principal("analyst1", ["analyst"], department="发展改革委")
            steward, analyst = fabric.as_user("steward1"), fabric.as_user("analyst1")
            steward.catalog.add_source("mr", f"sqlite:///{tmp / 'mr.db'}", department="市场监管局")
            steward.catalog.harvest("mr")
            steward.virtual.create_table("market.enterprise", "mr.main.qy", keep_names=True)
            sub, secret = analyst.subscriptions.order(
                "market.enterprise", columns=["name", "district", "capital"], key=["uscc"], filter=None,
                purpose="benchmark", push_url=receiver.url, change_column="version" if args.change_column else None)
            receiver.secret = secret or ""
            steward.subscriptions.approve(sub.id)
            rows = []
            for phase in ("first run (inserts)", "after updating every row"):
                if phase.startswith("after"):
                    con = sqlite3.connect(tmp / "mr.db")
                    con.execute("UPDATE qy SET capital = capital + 1, version = version + 1")
                    con.commit()
                    con.close()
                before_changes, before_deliveries = receiver.changes, receiver.deliveries
                t0 = time.perf_counter()
                report = steward.subscriptions.run(sub.id, drain=True)
                end = max(receiver.last, t0)
                seconds = time.perf_counter() - t0
                got = receiver.changes - before_changes
                n_deliveries = receiver.deliveries - before_deliveries
                assert got == args.rows, (phase, got, report)
                results[phase] = {"s": round(seconds, 2), "last_arrival_s": round(end - t0, 2), "changes": got,
                                  "deliveries": n_deliveries, "rows_per_s": round(got / seconds),
                                  "deliveries_per_s": round(n_deliveries / seconds, 1), "bad_signatures": receiver.bad,
                                  "detected": report.changes}
                rows.append([phase, seconds, got, round(got / seconds), n_deliveries,
                             round(n_deliveries / seconds, 1)])
        finally:
            fabric.close()
            receiver.server.shutdown()
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    common.print_table(["phase", "s", "changes", "rows/s", "deliveries", "deliveries/s"], rows,
                       title=f"push of {args.rows:,} changed rows to a local receiver "
                             f"({PUSH_BATCH} changes per delivery)")
    common.write_results("service_push", results)


if __name__ == "__main__":
    main()
