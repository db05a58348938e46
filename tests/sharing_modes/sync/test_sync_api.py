"""``/api/v1/topics`` through ``router_client`` and ``govfabric topic`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govfabric.cli.main import app
from govfabric.sharing_modes.sync import blobs
from govfabric.sharing_modes.sync.router import router

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
XSS = "<script>alert(1)</script>"


#: the HTTP and CLI layers are the same on both stores; the service tests run on both
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def test_topics_api(workspace, router_client) -> None:
    steward = router_client(workspace, router, "steward1")
    analyst = router_client(workspace, router, "analyst1")
    r = steward.post("/api/v1/topics", json={"type": "notice", "title": XSS, "body": "b"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    got = analyst.get(f"/api/v1/topics/{tid}")
    assert got.headers["content-type"] == "application/json" and got.json()["title"] == XSS
    assert analyst.patch(f"/api/v1/topics/{tid}", json={"title": "x"}).status_code == 403
    assert steward.patch(f"/api/v1/topics/{tid}", json={"body": "new"}).json()["body"] == "new"
    assert steward.post("/api/v1/topics", json={"type": "gossip", "title": "t", "body": "b"}).status_code == 422
    assert steward.post("/api/v1/topics", json={"type": "notice", "title": "t", "body": "b",
                                                "extra": 1}).status_code == 422
    assert analyst.post(f"/api/v1/topics/{tid}/replies", json={"body": "回复"}).status_code == 201
    found = analyst.get("/api/v1/topics", params={"replier": "analyst1", "type": "notice"}).json()
    assert [t["id"] for t in found] == [tid] and found[0]["replies"] == 1
    assert analyst.get("/api/v1/topics", params={"text": "nothing-like-this"}).json() == []
    assert analyst.get("/api/v1/topics", params={"since": "2999-01-01T00:00:00Z"}).json() == []
    assert analyst.get("/api/v1/topics/types").json()[0] == {"type": "notice", "label": "通知"}
    assert analyst.get("/api/v1/topics/not-an-id").status_code == 422
    assert analyst.delete(f"/api/v1/topics/{tid}").status_code == 403
    assert steward.delete(f"/api/v1/topics/{tid}").status_code == 204
    assert analyst.get(f"/api/v1/topics/{tid}").status_code == 404


def test_attachments_api(workspace, router_client) -> None:
    steward = router_client(workspace, router, "steward1")
    analyst = router_client(workspace, router, "analyst1")
    tid = steward.post("/api/v1/topics", json={"type": "notice", "title": "t", "body": "b"}).json()["id"]
    up = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "图表 \"1\".png"}, content=PNG,
                      headers={"content-type": "application/octet-stream"})
    assert up.status_code == 201, up.text
    att = up.json()
    assert att["media_type"] == "image/png" and att["size"] == len(PNG)
    d = analyst.get(f"/api/v1/topics/{tid}/attachments/{att['id']}")
    assert d.status_code == 200 and d.content == PNG
    assert d.headers["content-disposition"].startswith('attachment; filename="_1_.png"') or \
        d.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%9B%BE%E8%A1%A8%20%221%22.png" in d.headers["content-disposition"]
    assert d.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in d.headers["content-security-policy"]
    assert d.headers["content-type"] == "image/png"
    # an HTML file is plain text, served as an attachment, never rendered
    html = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "page.html"},
                        content=b"<html><script>alert(1)</script></html>").json()
    d = analyst.get(f"/api/v1/topics/{tid}/attachments/{html['id']}")
    assert d.headers["content-type"].startswith("text/plain") and d.headers["x-content-type-options"] == "nosniff"
    # bad input: traversal name, wrong type, not the starter
    bad = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "../../x.png"}, content=PNG)
    assert bad.status_code == 422 and "looks like a path" in bad.json()["message"]
    exe = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "a.txt"},
                       content=b"MZ\x90\x00" + b"\x00" * 300)
    assert exe.status_code == 422 and "not accepted" in exe.json()["message"]
    assert analyst.post(f"/api/v1/topics/{tid}/attachments", params={"name": "a.txt"},
                        content=b"hi").status_code == 403
    assert len(analyst.get(f"/api/v1/topics/{tid}").json()["attachments"]) == 2


def test_oversize_upload_is_413_before_the_body(workspace, router_client) -> None:
    workspace.settings.sync_max_attachment_bytes = 100
    steward = router_client(workspace, router, "steward1")
    tid = steward.post("/api/v1/topics", json={"type": "notice", "title": "t", "body": "b"}).json()["id"]
    pulled: list[int] = []

    def body():  # type: ignore[no-untyped-def]
        for i in range(10_000):
            pulled.append(i)
            yield b"a" * 1000

    # declared length over the limit: refused from the header
    r = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "big.txt"}, content=b"a" * 101)
    assert r.status_code == 413 and "sync_max_attachment_bytes" in r.json()["message"]
    # no declared length (chunked): cut off at the limit (the test transport buffers the body
    # first, so how much was pulled is shown by the service test, not here)
    r = steward.post(f"/api/v1/topics/{tid}/attachments", params={"name": "big.txt"}, content=body())
    assert r.status_code == 413 and "content-length" not in r.request.headers
    assert steward.get(f"/api/v1/topics/{tid}").json()["attachments"] == []
    assert not any(p.is_file() for p in blobs.blob_root(workspace.settings).rglob("*"))


def test_signed_in_principals_only(workspace, router_client) -> None:
    tid = workspace.topics.start("notice", "t", "b").id
    att = workspace.topics.attach(tid, "a.txt", [b"hello"])
    anonymous = router_client(workspace, router, None)
    assert anonymous.get("/api/v1/topics").status_code == 401
    assert anonymous.get(f"/api/v1/topics/{tid}/attachments/{att.id}").status_code == 401
    ghost = router_client(workspace, router, "nobody")
    assert ghost.get(f"/api/v1/topics/{tid}/attachments/{att.id}").status_code in (401, 403, 404)
    workspace.set_principal_active("analyst1", False)
    disabled = router_client(workspace, router, "analyst1")
    assert disabled.get(f"/api/v1/topics/{tid}/attachments/{att.id}").status_code in (401, 403)


runner = CliRunner()


def _run(home: Path, user: str, *args: str) -> str:
    r = runner.invoke(app, ["--home", str(home), "--as", user, *args])
    assert r.exit_code == 0, r.output
    return r.output


def test_topic_cli(workspace) -> None:
    home = workspace.settings.home
    t = json.loads(_run(home, "steward1", "topic", "start", "--type", "question", "--title", "[red]标题[/red]",
                        "--body", "正文", "--json"))
    _run(home, "analyst1", "topic", "reply", t["id"], "--body", "答复")
    shown = _run(home, "analyst1", "topic", "show", t["id"])
    assert "[red]标题[/red]" in shown  # rich markup in a title is printed, not interpreted
    found = json.loads(_run(home, "analyst1", "topic", "search", "--replier", "analyst1", "--json"))
    assert [x["id"] for x in found] == [t["id"]]
    f = home / "chart.png"
    f.write_bytes(PNG)
    att = json.loads(_run(home, "steward1", "topic", "attach", t["id"], str(f), "--json"))
    assert att["media_type"] == "image/png"
    _run(home, "analyst1", "topic", "download", t["id"], att["id"], "-o", "topics/chart.png")
    assert (workspace.settings.resolved_export_root / "topics" / "chart.png").read_bytes() == PNG
    r = runner.invoke(app, ["--home", str(home), "--as", "steward1", "topic", "attach", t["id"], str(f),
                            "--name", "../evil.png"])
    assert r.exit_code != 0 and "looks like a path" in str(r.exception)
    r = runner.invoke(app, ["--home", str(home), "--as", "analyst1", "topic", "delete", t["id"]])
    assert r.exit_code != 0 and "only its starter" in str(r.exception)
    _run(home, "steward1", "topic", "delete", t["id"])
    assert json.loads(_run(home, "analyst1", "topic", "search", "--json")) == []


def test_upload_and_download_through_the_real_app(workspace) -> None:
    """The server's middleware buffers the body (for signatures) and replays it; the route still
    streams it, limits it and serves the file with its headers; a bearer token is a signed-in caller."""
    from fastapi.testclient import TestClient

    from govfabric.auth import tokens
    from govfabric.server.app import create_app

    token, _ = tokens.create(workspace.as_user("steward1"), name="t")
    client = TestClient(create_app(workspace), raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {token}"}
    tid = client.post("/api/v1/topics", json={"type": "notice", "title": "t", "body": "b"}, headers=auth).json()["id"]
    up = client.post(f"/api/v1/topics/{tid}/attachments", params={"name": "c.png"}, content=PNG, headers=auth)
    assert up.status_code == 201, up.text
    d = client.get(f"/api/v1/topics/{tid}/attachments/{up.json()['id']}", headers=auth)
    assert d.content == PNG and d.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/api/v1/topics/{tid}/attachments/{up.json()['id']}").status_code == 401
    workspace.settings.sync_max_attachment_bytes = 10
    big = client.post(f"/api/v1/topics/{tid}/attachments", params={"name": "c.png"}, content=PNG, headers=auth)
    assert big.status_code == 413
    assert client.get("/api/v1/notifications", headers=auth).json() == []
