"""Issue 11 end to end, as a business system and a curl user meet it: the REAL app (``create_app``,
its middleware, signatures, audit) on the demo workspace, called by ``govfabric.client.Client``;
and ``govfabric api call --url`` against a real ``govfabric serve`` process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from fastapi.testclient import TestClient

from govfabric.auth import apps
from govfabric.client import Client
from govfabric.errors import AccessDenied, AuthenticationRequired, ValidationFailed
from tests.infra.serving import InProcess, serving

MR = "北京市市场监督管理局"
ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district", "fddbr_sfzh": "legal_rep_id",
                           "zczb": "capital", "clrq": "founded"},
                  only=["tyshxydm", "qymc", "qx", "fddbr_sfzh", "zczb", "clrq", "xzqh"])
PARAMS = {"uscc": ["eq"], "name": ["eq", "prefix"], "district": ["eq", "in"], "founded": ["range"]}
REGION = "xzqh = '110105'"


class Plane:
    """The served demo workspace: the admin origin, the steward, two apps and their clients."""

    def __init__(self, admin: Any) -> None:
        from govfabric.server.app import create_app

        self.admin = admin
        self.steward = admin.as_user("steward_mr")
        self.gs = apps.add(admin, "gs_system", department=MR)
        self.stranger = apps.add(admin, "other_system", department=MR)
        self.http = TestClient(create_app(admin), base_url="http://testserver", raise_server_exceptions=False)
        self.http.__enter__()

    def client(self, issued: apps.Issued) -> Client:
        return Client("http://testserver", issued.key_id, issued.secret, transport=InProcess(self.http))

    def events(self, action: str) -> list[Any]:
        from sqlalchemy import select

        from govfabric.auth.models import AuditEvent

        with self.admin.store.session() as s:
            rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))
            s.expunge_all()
            return rows


@pytest.fixture
def plane(demo_home: Path) -> Iterator[Plane]:
    from govfabric.fabric import connect

    admin = connect(demo_home)
    p = Plane(admin)
    steward = p.steward
    steward.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    steward.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    steward.access.grant("gs_system", "market.enterprise", row_filter=REGION)
    yield p
    p.http.__exit__(None, None, None)
    admin.close()


def _publish(steward: Any, name: str = "ent_lookup", table: str = "market.enterprise") -> None:
    steward.query_api.create(name, table, params=PARAMS, require_one_of=["uscc", "name", "district"],
                             columns=["name", "district", "legal_rep_id", "capital"], order=["uscc"], page_size=4,
                             max_page_size=50)


def test_query_service_end_to_end(plane: Plane) -> None:
    _publish(plane.steward)
    raw = plane.steward.sql("SELECT uscc, name, district, xzqh FROM market.enterprise ORDER BY uscc").to_pylist()
    district = next(r["district"] for r in raw if r["xzqh"] == "110105")
    mine = [r["name"] for r in raw if r["xzqh"] == "110105" and r["district"] == district]
    assert len(mine) > 4, "the demo needs more than one page in this district"
    with plane.client(plane.gs) as c:
        pages = list(c.query_pages("ent_lookup", district=district))
        names = [r["name"] for p in pages for r in p.rows]
        assert names == mine and len(pages) > 1  # every row once, in key order; the row filter holds
        ids = [r["legal_rep_id"] for p in pages for r in p.rows]
        assert all(i is None or "*" in i for i in ids) and any(i for i in ids)  # the mask applies
        outside = next(r for r in raw if r["xzqh"] != "110105")
        assert c.query("ent_lookup", uscc=outside["uscc"]).rows == []  # filtered out, not an error
        arrow = c.query("ent_lookup", district=district, arrow=True)
        assert isinstance(arrow.to_arrow(), pa.Table) and arrow.to_arrow().num_rows == 4
        assert arrow.next_page_token
        csv = c.request("GET", "/api/v1/query/ent_lookup", params={"district": district},
                        headers={"Accept": "text/csv"})
        table = pcsv.read_csv(io.BytesIO(csv.content))
        assert table.column_names == ["name", "district", "legal_rep_id", "capital"] and table.num_rows == 4
        rid = "e2e-request-0001"
        c.request("GET", "/api/v1/query/ent_lookup", params={"uscc": raw[0]["uscc"]}, headers={"X-Request-ID": rid})
    api_call = [e for e in plane.events("api.call") if e.details.get("request_id") == rid]
    q_call = [e for e in plane.events("query_api.call") if e.details.get("request_id") == rid]
    assert len(api_call) == 1 and len(q_call) == 1
    assert api_call[0].actor == q_call[0].actor == "gs_system"
    assert api_call[0].details["params"] == ["uscc"] and raw[0]["uscc"] not in str(q_call[0].details)
    with plane.client(plane.stranger) as c, pytest.raises(AccessDenied) as denied:
        c.query("ent_lookup", uscc=raw[0]["uscc"])
    assert denied.value.status == 403  # type: ignore[attr-defined]
    # lineage names the consumer app as an output of the service (OpenLineage, its own namespace)
    events = [e for e in plane.admin.lineage.events() if e["job"]["name"] == "query_api.ent_lookup"]
    assert len(events) == 1  # once per service version and process, not per call
    out = events[0]["outputs"][0]
    assert (out["namespace"], out["name"]) == ("govfabric-app://gs_system", "query_api/ent_lookup")
    assert out["facets"]["ownership"]["owners"] == [{"name": "gs_system", "type": "CONSUMER"}]
    fields = out["facets"]["columnLineage"]["fields"]
    assert fields["legal_rep_id"]["inputFields"][0]["transformations"][0]["subtype"] == "MASKING"
    assert fields["name"]["inputFields"][0]["name"] == "market.enterprise"
    assert "govfabric-app://gs_system/query_api/ent_lookup" in {
        *plane.admin.lineage.downstream("market.enterprise").reached}


def test_disabled_app_is_refused_on_its_next_call(plane: Plane) -> None:
    _publish(plane.steward)
    with plane.client(plane.gs) as c:
        assert c.whoami()["kind"] == "business_system"
        apps.set_active(plane.admin, "gs_system", False)
        with pytest.raises(AuthenticationRequired) as refused:
            c.query("ent_lookup", district="朝阳区")
    assert refused.value.status == 401  # type: ignore[attr-defined]
    assert refused.value.code in ("app_disabled", "principal_disabled")  # type: ignore[attr-defined]


def test_subscription_over_http(plane: Plane) -> None:
    with plane.client(plane.stranger) as c:
        body = {"table": "market.enterprise", "columns": ["name", "district", "legal_rep_id"], "key": ["uscc"],
                "filter": "district = '朝阳区'", "purpose": "企业信息同步"}
        sub = c.post("/api/v1/subscriptions", json=body)["subscription"]
        assert sub["status"] == "pending" and sub["subscriber"] == "other_system"
        with pytest.raises(ValidationFailed):
            c.get(f"/api/v1/subscriptions/{sub['id']}/changes")  # not active yet
        plane.steward.subscriptions.approve(sub["id"])
        plane.steward.subscriptions.run(sub["id"])
        got = c.get(f"/api/v1/subscriptions/{sub['id']}/changes", params={"since": 0})
    want = plane.steward.sql("SELECT count(*) FROM market.enterprise WHERE district = '朝阳区'").column(0)[0].as_py()
    assert got["changes"] and len(got["changes"]) == want
    assert {ch["op"] for ch in got["changes"]} == {"insert"}
    rows = [ch["row"] for ch in got["changes"]]
    assert {r["district"] for r in rows} == {"朝阳区"} and all("*" in (r["legal_rep_id"] or "*") for r in rows)
    assert got["next_cursor"] >= got["changes"][-1]["seq"]


def test_dataset_link_download_and_range(plane: Plane) -> None:
    plane.steward.datasets.publish("market.enterprise", ["csv", "parquet"])
    with plane.client(plane.gs) as c:
        link = c.post("/api/v1/datasets/market.enterprise/links", json={"format": "csv", "expires": "1h"})
    anonymous = plane.http  # a plain HTTP client: no signature, the link's own HMAC authenticates
    whole = anonymous.get(link["url"])
    assert whole.status_code == 200, whole.text
    text = whole.content.decode("utf-8-sig")
    assert "legal_rep_id" in text and text.count("\n") - 1 == plane.steward.sql(
        f"SELECT count(*) FROM market.enterprise WHERE {REGION}").column(0)[0].as_py()
    part = anonymous.get(link["url"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == whole.content[:10]
    head = anonymous.head(link["url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(whole.content)
    tampered = anonymous.get(link["url"].replace("consumer=gs_system", "consumer=analyst1"))
    assert tampered.status_code == 401 and tampered.json()["code"]


def test_cli_api_call_against_a_served_process(plane: Plane, tmp_path: Path) -> None:
    _publish(plane.steward)
    uscc = plane.steward.sql(f"SELECT uscc FROM market.enterprise WHERE {REGION} ORDER BY uscc LIMIT 1").column(0)[0]
    home = str(plane.admin.settings.home)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with serving(home, tmp_path / "serve.log") as server:
        cli = [sys.executable, "-m", "govfabric.cli.main", "--home", home, "api", "call", "ent_lookup",
               f"uscc={uscc.as_py()}", "--url", server.url, "--app", plane.gs.key_id, "--secret-env", "E2E_SECRET",
               "--json"]
        done = subprocess.run(cli, env={**env, "E2E_SECRET": plane.gs.secret}, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        import json

        rows = json.loads(done.stdout)["rows"]
        assert len(rows) == 1 and "*" in rows[0]["legal_rep_id"]
        wrong = subprocess.run(cli, env={**env, "E2E_SECRET": "not-the-secret"}, capture_output=True, text=True,
                               timeout=120)
        assert wrong.returncode != 0 and "Traceback" not in wrong.stdout + wrong.stderr
    assert "Traceback" not in server.output()


def test_query_service_over_a_view(plane: Plane) -> None:
    """A service over a virtual VIEW: published by a steward of the view's department, callable by an app
    holding the tables the view reads; the tables' masks and row filters hold through the view."""
    plane.steward.virtual.create_view(
        "market.enterprise_brief",
        "SELECT uscc, name, district, legal_rep_id, capital, founded, xzqh FROM market.enterprise")
    _publish(plane.steward, "brief_lookup", "market.enterprise_brief")
    assert plane.steward.query_api.describe("brief_lookup")["params"][0] == {
        "column": "uscc", "ops": ["eq"], "type": "text"}
    raw = plane.steward.sql("SELECT name, district, xzqh FROM market.enterprise ORDER BY uscc").to_pylist()
    district = next(r["district"] for r in raw if r["xzqh"] == "110105")
    mine = [r["name"] for r in raw if r["xzqh"] == "110105" and r["district"] == district]
    with plane.client(plane.gs) as c:
        assert "brief_lookup" in [s["name"] for s in c.get("/api/v1/query")]
        pages = list(c.query_pages("brief_lookup", district=district))
        assert [r["name"] for p in pages for r in p.rows] == mine
        assert all("*" in (r["legal_rep_id"] or "*") for p in pages for r in p.rows)
    with plane.client(plane.stranger) as c:
        assert "brief_lookup" not in [s["name"] for s in c.get("/api/v1/query")]
        with pytest.raises(AccessDenied):
            c.query("brief_lookup", district=district)
    other = plane.admin.as_user("steward_ps")  # another department's steward may not publish over it
    with pytest.raises(AccessDenied):
        _publish(other, "ps_lookup", "market.enterprise_brief")


def test_subscription_over_a_view(plane: Plane) -> None:
    """A range ordered from a virtual VIEW over HTTP: the view's owner approves (no new grant: the
    subscriber reads with the grants it holds on the view's tables, masks and row filters apply)."""
    plane.steward.virtual.create_view(
        "market.enterprise_brief", "SELECT uscc, name, district, legal_rep_id, xzqh FROM market.enterprise")
    body = {"table": "market.enterprise_brief", "columns": ["name", "district", "legal_rep_id"], "key": ["uscc"],
            "filter": "district = '朝阳区'", "purpose": "企业信息同步"}
    with plane.client(plane.stranger) as c, pytest.raises(AccessDenied):
        c.post("/api/v1/subscriptions", json=body)  # no grant on what the view reads: nothing to order
    with plane.client(plane.gs) as c:
        sub = c.post("/api/v1/subscriptions", json=body)["subscription"]
        assert sub["status"] == "pending" and sub["table"] == "market.enterprise_brief"
        with pytest.raises(AccessDenied):
            plane.admin.as_user("steward_ps").subscriptions.approve(sub["id"])  # not the view's department
        assert sub["id"] in [s.id for s in plane.steward.subscriptions.list()]
        plane.steward.subscriptions.approve(sub["id"])
        plane.steward.subscriptions.run(sub["id"])
        got = c.get(f"/api/v1/subscriptions/{sub['id']}/changes", params={"since": 0})
    want = plane.steward.sql(f"SELECT count(*) FROM market.enterprise WHERE district = '朝阳区' AND {REGION}")
    assert len(got["changes"]) == want.column(0)[0].as_py() > 0  # the app's row filter holds through the view
    rows = [ch["row"] for ch in got["changes"]]
    assert {r["district"] for r in rows} == {"朝阳区"} and all("*" in (r["legal_rep_id"] or "*") for r in rows)


def test_a_signed_request_is_answered_once_by_a_server_with_several_workers(plane: Plane, tmp_path: Path) -> None:
    """``govfabric serve --workers 2`` without Redis: the same signed request sent again on new
    connections (which the kernel hands to either worker) is refused every time after the first —
    the workers share the nonces (the workspace's ``server/nonces.sqlite``), not each its own."""
    import httpx

    from govfabric.auth import httpsig

    _publish(plane.steward)
    uscc = plane.steward.sql(f"SELECT uscc FROM market.enterprise WHERE {REGION} ORDER BY uscc LIMIT 1").column(0)[0]
    with serving(plane.admin.settings.home, tmp_path / "serve.log", "--workers", "2") as server:
        request = httpx.Request("GET", f"{server.url}/api/v1/query/ent_lookup?uscc={uscc.as_py()}")
        httpsig.sign(request, key_id=plane.gs.key_id, secret=plane.gs.secret.encode())
        codes = []
        for _ in range(12):
            with httpx.Client() as http:  # a new connection each time
                response = http.send(request)
            codes.append((response.status_code, response.json().get("code")))
        assert codes[0][0] == 200, codes
        assert codes[1:] == [(401, "nonce_replayed")] * 11, codes
        assert (plane.admin.settings.home / "server" / "nonces.sqlite").stat().st_mode & 0o077 == 0
    assert "Traceback" not in server.output()
