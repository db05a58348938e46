"""Lineage shows other principals' SQL without its literals (issue 10, hole 10 / "Logs and lineage"):
``lineage export`` once carried everyone's full SQL text, resident ID numbers included."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from openlineage_spec import validate_event
from typer.testing import CliRunner

from govfabric.cli.main import app
from govfabric.errors import GovfabricError
from govfabric.fabric import DEFAULT_ADMIN
from govfabric.governance.lineage.redact import WITHHELD, redact, strip_literals
from govfabric.governance.lineage.service import LineageService

ID = "110105199001011234"
QUERY = f"SELECT district FROM market.enterprise WHERE id_no = '{ID}' AND district <> '999999'"


def test_redact_withholds_error_messages() -> None:
    event = {"job": {"facets": {"sql": {"query": f"SELECT 1 WHERE x = '{ID}'", "dialect": "duckdb"}}},
             "run": {"facets": {"errorMessage": {"message": f"Could not convert '{ID}'", "stackTrace": ID}}}}
    out = redact(event)
    assert ID not in json.dumps(out) and out["run"]["facets"]["errorMessage"]["message"] == WITHHELD
    assert ID in json.dumps(event)  # the stored event is untouched


def test_strip_literals() -> None:
    assert strip_literals(f"SELECT a /* {ID} */ FROM t WHERE id_no = '{ID}' AND n > 5 LIMIT 3 -- {ID}",
                          "duckdb") == "SELECT a FROM t WHERE id_no = ? AND n > ? LIMIT ?"
    assert strip_literals(f"SELECT `a` FROM t WHERE x IN ('{ID}', X'ff')", "mysql") == \
        "SELECT `a` FROM t WHERE x IN (?, ?)"
    assert strip_literals(f"SELECT 1 FROM t WHERE d = DATE '2020-01-01' AND s = $${ID}$$", "postgres") == \
        "SELECT ? FROM t WHERE d = CAST(? AS DATE) AND s = ?"
    assert strip_literals(f"SELECT '{ID}' FROM (((", "duckdb") is None  # unparsable: nothing shown
    assert strip_literals("SELECT 1", "no-such-dialect") == "SELECT ?"


@pytest.fixture
def world(demo):
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"tyshxydm": "id_no", "qymc": "name", "qx": "district"},
                              only=["tyshxydm", "qymc", "qx"])
    demo.as_user(DEFAULT_ADMIN).add_principal("analyst2", ["analyst"], department="北京市统计局")
    for who in ("analyst1", "analyst2"):
        demo.access.grant(who, "market.enterprise")
    a = demo.as_user("analyst1")
    a.sql(QUERY)
    with pytest.raises(GovfabricError):  # DuckDB's conversion error quotes a company name
        a.sql("SELECT CAST(name AS INTEGER) AS n FROM market.enterprise")
    return demo


def _exports(fabric) -> dict[str, str]:
    svc = LineageService(fabric)
    return {fmt: svc.export(fmt) for fmt in ("openlineage", "dot", "html")} | {
        f"{fmt}:focus": svc.export(fmt, "market.enterprise") for fmt in ("openlineage", "dot", "html")}


def test_another_analyst_sees_no_literal_in_any_format(world, demo_home) -> None:
    b = world.as_user("analyst2")
    for fmt, text in _exports(b).items():
        assert ID not in text, fmt
    events = [json.loads(line) for line in LineageService(b).export("openlineage").splitlines()]
    sqls = [e["job"]["facets"]["sql"]["query"] for e in events if "sql" in e["job"].get("facets", {})]
    assert "SELECT district FROM market.enterprise WHERE id_no = ? AND district <> ?" in sqls
    failed = [e for e in events if e["eventType"] == "FAIL" and e["job"]["name"] == "virtual_query.analyst1"]
    assert failed and all(e["run"]["facets"].get("errorMessage", {}).get("message", WITHHELD) == WITHHELD
                          for e in failed)
    for e in events:
        validate_event(e)
    r = CliRunner().invoke(app, ["lineage", "export", "--format", "openlineage"],
                           env={"GOVFABRIC_HOME": str(demo_home), "GOVFABRIC_USER": "analyst2"})
    assert r.exit_code == 0 and "id_no = ?" in r.output and ID not in r.output


def test_own_queries_stay_verbatim_and_auditors_see_everything(world) -> None:
    for who in ("analyst1", "auditor1", DEFAULT_ADMIN):
        text = LineageService(world.as_user(who)).export("openlineage")
        assert QUERY in text, who


class _Receiver(BaseHTTPRequestHandler):
    got: list[str] = []

    def do_POST(self) -> None:
        type(self).got.append(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_forwarded_events_carry_no_literals(world) -> None:
    from govfabric.governance.lineage.transport import forward_stored

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert forward_stored(world, url=f"http://127.0.0.1:{server.server_port}") > 0
    finally:
        server.shutdown()
    assert any("id_no = ?" in body for body in _Receiver.got)
    assert not any(ID in body for body in _Receiver.got)
    for body in _Receiver.got:
        validate_event(json.loads(body))
