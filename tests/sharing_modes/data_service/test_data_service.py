"""Data service subscriptions: order → approve (a scoped grant) → changes by pull and by signed
push to a real local receiver; the restricted filter grammar; the lifecycle rules."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from govfabric.errors import AccessDenied, ValidationFailed
from govfabric.sharing_modes.data_service import delivery

ROWS = [("91350102A", "甲公司", "350102", 100.0, "110105199001011234", 1),
        ("91350102B", "乙公司", "350102", 200.0, "110105198505052345", 1),
        ("91350103C", "丙公司", "350103", 300.0, "110105197001010000", 1)]


@pytest.fixture
def world(workspace, tmp_path: Path) -> dict[str, Any]:
    db = tmp_path / "mr.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE qy (uscc TEXT PRIMARY KEY, name TEXT, district TEXT, capital REAL, "
                "legal_id TEXT, version INTEGER)")
    con.executemany("INSERT INTO qy VALUES (?,?,?,?,?,?)", ROWS)
    con.commit()
    con.close()
    steward = workspace.as_user("steward1")
    steward.catalog.add_source("mr", f"sqlite:///{db}", department="市场监管局")
    steward.catalog.harvest("mr")
    steward.virtual.create_table("market.enterprise", "mr.main.qy", keep_names=True)
    steward.access.set_mask("market.enterprise", "legal_id", "resident_id")
    workspace.settings.data_service_allow_loopback = True
    workspace.settings.data_service_backoff_s = 0.05
    workspace.settings.data_service_max_attempts = 4
    return {"db": db, "steward": steward, "analyst": workspace.as_user("analyst1"), "admin": workspace}


def _sql(db: Path, sql: str, *args: Any) -> None:
    con = sqlite3.connect(db)
    con.execute(sql, args)
    con.commit()
    con.close()


def _order(w: dict[str, Any], **kw: Any) -> int:
    args: dict[str, Any] = dict(columns=["name", "district", "legal_id"], filter="district = '350102'",
                                key=["uscc"], purpose="企业变更同步")
    args.update(kw)
    sub, _ = w["analyst"].subscriptions.order("market.enterprise", **args)
    w["steward"].subscriptions.approve(sub.id)
    return sub.id


def test_approval_makes_a_scoped_grant(world) -> None:
    sid = _order(world)
    sub = world["analyst"].subscriptions.show(sid)
    assert sub.status == "active"
    g = next(g for g in world["admin"].access.grants("market.enterprise") if g.id == sub.grant_id)
    assert g.grantee == "analyst1" and g.row_filter == "district = '350102'"
    assert set(g.columns) == {"uscc", "name", "district", "legal_id"}  # key + ordered columns, not capital
    # the grant itself scopes the subscriber's reads, outside the subscription too
    rows = world["analyst"].sql("SELECT uscc FROM market.enterprise").to_pylist()
    assert sorted(r["uscc"] for r in rows) == ["91350102A", "91350102B"]


def test_changes_insert_update_delete_masked_and_once_by_cursor(world) -> None:
    sid = _order(world)
    svc = world["analyst"].subscriptions
    first = svc.changes(sid)  # the first check delivers the range as inserts
    assert [(c["op"], c["key"]["uscc"]) for c in first["changes"]] == [("insert", "91350102A"),
                                                                       ("insert", "91350102B")]
    assert all("********" in c["row"]["legal_id"] for c in first["changes"])  # masks apply to the subscriber
    assert "capital" not in first["changes"][0]["row"]
    _sql(world["db"], "INSERT INTO qy VALUES ('91350102D', '丁公司', '350102', 1, '110105199901010000', 1)")
    _sql(world["db"], "UPDATE qy SET name = '甲公司（新）' WHERE uscc = '91350102A'")
    _sql(world["db"], "DELETE FROM qy WHERE uscc = '91350102B'")
    _sql(world["db"], "UPDATE qy SET name = '外区' WHERE uscc = '91350103C'")  # outside the range
    world["steward"].subscriptions.run(sid)
    again = svc.changes(sid, since=first["next_cursor"])
    got = {(c["op"], c["key"]["uscc"]) for c in again["changes"]}
    assert got == {("insert", "91350102D"), ("update", "91350102A"), ("delete", "91350102B")}
    upd = next(c for c in again["changes"] if c["op"] == "update")
    assert upd["row"]["name"] == "甲公司（新）"
    assert "row" not in next(c for c in again["changes"] if c["op"] == "delete")
    assert svc.changes(sid, since=again["next_cursor"])["changes"] == []  # each change once
    world["steward"].subscriptions.run(sid)  # nothing changed: nothing recorded
    assert svc.changes(sid, since=again["next_cursor"])["changes"] == []
    page = svc.changes(sid, since=0, limit=2)
    assert len(page["changes"]) == 2 and svc.changes(sid, since=page["next_cursor"])["changes"][0]["seq"] > \
        page["next_cursor"]


def test_change_column_mode(world) -> None:
    sid = _order(world, change_column="version")
    svc = world["analyst"].subscriptions
    first = svc.changes(sid)
    assert len(first["changes"]) == 2
    _sql(world["db"], "UPDATE qy SET name = 'x', version = 2 WHERE uscc = '91350102B'")
    _sql(world["db"], "DELETE FROM qy WHERE uscc = '91350102A'")
    world["analyst"].subscriptions.run(sid)
    got = {(c["op"], c["key"]["uscc"]) for c in svc.changes(sid, since=first["next_cursor"])["changes"]}
    assert got == {("update", "91350102B"), ("delete", "91350102A")}


@pytest.mark.parametrize("bad", ["district IN (SELECT district FROM market.enterprise)", "lower(name) = 'a'",
                                 "other.t.district = '1'", "1=1; DROP TABLE qy", "district = '1' -- x",
                                 "capital LIKE 1", "nosuch = 1", "capital + 1 > 2"])
def test_filter_grammar_refusals(world, bad: str) -> None:
    with pytest.raises(ValidationFailed, match="filter"):
        world["analyst"].subscriptions.order("market.enterprise", columns=["name"], filter=bad, purpose="测试用途")
    assert world["analyst"].access.requests(mine=True) == []  # nothing was written


def test_non_owner_cannot_approve_and_reject_needs_owner(world, workspace) -> None:
    sub, _ = world["analyst"].subscriptions.order("market.enterprise", columns=["name"], filter=None,
                                                  purpose="测试用途")
    workspace.add_principal("analyst2", ["analyst"])
    with pytest.raises(AccessDenied):
        workspace.as_user("analyst2").subscriptions.approve(sub.id)
    with pytest.raises(AccessDenied):
        world["analyst"].subscriptions.approve(sub.id)  # not one's own either
    world["steward"].subscriptions.reject(sub.id, "范围过大")
    assert world["analyst"].subscriptions.show(sub.id).status == "rejected"


class Receiver:
    """A real HTTP receiver on 127.0.0.1 that fails ``fail`` times, then answers 204."""

    def __init__(self, fail: int) -> None:
        self.fail, self.calls = fail, []  # type: ignore[var-annotated]
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((dict(self.headers), body))
                self.send_response(500 if len(outer.calls) <= outer.fail else 204)
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(fail: int) -> Receiver:
        made.append(Receiver(fail))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()
        r.server.server_close()


def test_push_retries_signs_and_keeps_the_idempotency_key(world, receiver) -> None:
    rec = receiver(fail=2)
    sub, secret = world["analyst"].subscriptions.order(
        "market.enterprise", columns=["name", "legal_id"], filter="district = '350102'", key=["uscc"],
        push_url=rec.url, purpose="企业变更推送")
    assert secret
    world["steward"].subscriptions.approve(sub.id)
    report = world["steward"].subscriptions.run(sub.id, drain=True)
    assert report.delivered == 1 and report.failed == 2
    assert len(rec.calls) == 3
    keys = {h["Idempotency-Key"] for h, _ in rec.calls}
    assert len(keys) == 1  # stable across retries
    for headers, body in rec.calls:
        assert delivery.verify(secret, headers, body)
        assert not delivery.verify("wrong secret", headers, body)
    payload = json.loads(rec.calls[-1][1])
    assert {c["key"]["uscc"] for c in payload["changes"]} == {"91350102A", "91350102B"}
    assert all("********" in c["row"]["legal_id"] for c in payload["changes"])
    [d] = world["analyst"].subscriptions.deliveries(sub.id)
    assert d.status == "delivered" and d.attempts == 3 and d.id == keys.pop()


def test_dead_letter_then_redeliver(world, receiver) -> None:
    rec = receiver(fail=4)
    sub, _ = world["analyst"].subscriptions.order("market.enterprise", columns=["name"], filter=None,
                                                  key=["uscc"], push_url=rec.url, purpose="企业变更推送")
    world["steward"].subscriptions.approve(sub.id)
    report = world["analyst"].subscriptions.run(sub.id, drain=True)
    assert report.dead == 1 and len(rec.calls) == 4
    [d] = world["analyst"].subscriptions.deliveries(sub.id)
    assert d.status == "dead" and d.last_status == 500
    world["analyst"].subscriptions.redeliver(sub.id)
    world["analyst"].subscriptions.run(sub.id, drain=True)
    assert len(rec.calls) == 5 and rec.calls[-1][0]["Idempotency-Key"] == d.id
    assert world["analyst"].subscriptions.deliveries(sub.id)[0].status == "delivered"


def test_paused_subscription_does_not_deliver(world, receiver) -> None:
    rec = receiver(fail=0)
    sub, _ = world["analyst"].subscriptions.order("market.enterprise", columns=["name"], filter=None,
                                                  key=["uscc"], push_url=rec.url, purpose="企业变更推送")
    world["steward"].subscriptions.approve(sub.id)
    world["analyst"].subscriptions.pause(sub.id)
    world["steward"].subscriptions.run(drain=True)
    assert rec.calls == []
    with pytest.raises(AccessDenied):
        world["steward"].subscriptions.resume(sub.id)  # a consumer's pause is the consumer's to lift
    world["analyst"].subscriptions.resume(sub.id)
    world["steward"].subscriptions.run(drain=True)
    assert len(rec.calls) == 1
    world["steward"].subscriptions.suspend(sub.id)
    with pytest.raises(AccessDenied):
        world["analyst"].subscriptions.resume(sub.id)


def test_push_targets_are_checked(world) -> None:
    settings = world["admin"].settings
    for url in ("ftp://example.org/x", "http://169.254.169.254/latest", "file:///etc/passwd",
                "http://user:pw@127.0.0.1/x"):
        with pytest.raises(ValidationFailed):
            delivery.check_target(url, settings)
    settings.data_service_allow_loopback = False
    with pytest.raises(ValidationFailed, match="loopback"):
        delivery.check_target("http://127.0.0.1:9/x", settings)
    with pytest.raises(ValidationFailed, match="private"):
        delivery.check_target("http://10.1.2.3/x", settings)


def test_a_harvest_marks_subscriptions_due(world) -> None:
    sid = _order(world)
    world["analyst"].subscriptions.changes(sid)
    assert not world["analyst"].subscriptions.show(sid).due
    world["steward"].catalog.harvest("mr")
    assert world["analyst"].subscriptions.show(sid).due


def test_router_order_pull_and_pause(world, router_client) -> None:
    from govfabric.sharing_modes.data_service.router import router

    client = router_client(world["admin"], router, "analyst1")
    r = client.post("/api/v1/subscriptions", json={"table": "market.enterprise", "columns": ["name"],
                                                   "filter": "district = '350102'", "key": ["uscc"],
                                                   "purpose": "企业变更同步"})
    assert r.status_code == 201, r.text
    sid = r.json()["subscription"]["id"]
    bad = client.post("/api/v1/subscriptions", json={"table": "market.enterprise", "purpose": "企业变更同步",
                                                     "filter": "district = (SELECT 1)"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    world["steward"].subscriptions.approve(sid)
    got = client.get(f"/api/v1/subscriptions/{sid}/changes", params={"since": 0, "limit": 10})
    assert got.status_code == 200 and len(got.json()["changes"]) == 2
    assert client.get("/api/v1/subscriptions").json()[0]["id"] == sid
    assert client.post(f"/api/v1/subscriptions/{sid}/pause").json()["status"] == "paused"
    assert client.get(f"/api/v1/subscriptions/{sid}/changes").status_code == 422
    assert client.get("/api/v1/subscriptions/999").status_code == 404
    other = router_client(world["admin"], router, "steward1")
    assert other.post(f"/api/v1/subscriptions/{sid}/resume").status_code == 403


def test_a_schedule_pushes_a_subscription(world, receiver) -> None:
    """`schedule add subscriptions ID` runs detection and delivery as its creator; bad targets are refused."""
    rec = receiver(fail=0)
    sub, secret = world["analyst"].subscriptions.order("market.enterprise", columns=["name"], filter=None,
                                                       key=["uscc"], push_url=rec.url, purpose="定时推送")
    world["steward"].subscriptions.approve(sub.id)
    job = world["analyst"].schedule.add("subscriptions", str(sub.id), every="5m")
    run = world["analyst"].schedule.run_job(job["name"])
    assert run["status"] == "ok", run
    assert len(rec.calls) == 1 and delivery.verify(secret, *rec.calls[0])
    for target, options in (("x", {}), (str(sub.id), {"due_only": "yes"}), (str(sub.id), {"nope": 1})):
        with pytest.raises(ValidationFailed):
            world["analyst"].schedule.add("subscriptions", target, every="5m", options=options)
