"""Notifications: in-app, a signed webhook to a local HTTP server, e-mail to a local aiosmtpd."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from govfabric.cli.main import app
from govfabric.errors import NotFound, ValidationFailed
from govfabric.notify.router import router
from govfabric.sharing_modes.data_service import delivery
from tests.infra.serving import free_port


class Hook:
    """A local webhook receiver recording what it got."""

    def __init__(self, status: int = 200) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def smtp() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) accepting one login: notify / s3cret-pw."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append(envelope)
            return "250 OK"

    def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"notify", b"s3cret-pw")
        return AuthResult(success=ok)

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), authenticator=auth,
                            auth_require_tls=False)
    controller.start()
    controller.handler_ = handler
    yield controller
    controller.stop()


def test_in_app_send_list_read(workspace, steward, analyst) -> None:
    n = steward.notifications.send("analyst1", "提醒 <b>", "请补齐材料", link="/portal/x")
    assert n.deliveries == {"in_app": "stored"} and n.sender == "steward1"
    [got] = analyst.notifications.list(unread=True)
    assert (got.subject, got.body, got.link) == ("提醒 <b>", "请补齐材料", "/portal/x")
    assert analyst.notifications.unread_count() == 1
    with pytest.raises(NotFound):
        steward.notifications.read(got.id)  # someone else's
    analyst.notifications.read(got.id)
    assert analyst.notifications.list(unread=True) == [] and len(analyst.notifications.list()) == 1
    with pytest.raises(NotFound, match="nobody"):
        steward.notifications.send("nobody", "s", "b")
    with pytest.raises(ValidationFailed, match="control characters"):
        steward.notifications.send("analyst1", "Subject\r\nBcc: victim@example.org", "b")
    with pytest.raises(ValidationFailed, match="empty"):
        steward.notifications.send("analyst1", "s", "")
    assert len(analyst.notifications.list()) == 1  # nothing half-written
    ev = workspace.audit.events(action="notify.send")
    assert ev and all("请补齐材料" not in str(e.details) for e in ev)


def test_webhook_is_signed_and_ssrf_checked(workspace, steward, analyst, hook) -> None:
    with pytest.raises(ValidationFailed, match="loopback"):
        analyst.notifications.configure(webhook_url=hook.url)
    with pytest.raises(ValidationFailed, match="never a push target"):
        analyst.notifications.configure(webhook_url="http://169.254.169.254/latest/meta-data")
    with pytest.raises(ValidationFailed, match="http:// or https://"):
        analyst.notifications.configure(webhook_url="file:///etc/passwd")
    workspace.settings.data_service_allow_loopback = True
    view = analyst.notifications.configure(webhook_url=hook.url)
    assert view.webhook_secret and analyst.notifications.settings().webhook_secret is None
    n = steward.notifications.send("analyst1", "新回复", "body", link="/api/v1/topics/x")
    assert n.deliveries["webhook"] == "sent"
    [(headers, body)] = hook.got
    assert delivery.verify(view.webhook_secret, headers, body)
    assert not delivery.verify("wrong", headers, body)
    assert json.loads(body)["subject"] == "新回复" and headers["Idempotency-Key"] == n.id
    # the secret is stored sealed, not in plain text
    from sqlalchemy import select

    from govfabric.notify.models import Preference

    with workspace.store.session() as s:
        sealed = s.scalar(select(Preference.webhook_secret).where(Preference.principal == "analyst1"))
    assert sealed and view.webhook_secret not in sealed
    # a receiver that fails: recorded on the message, never raised to the sender
    workspace.settings.data_service_allow_loopback = False
    n = steward.notifications.send("analyst1", "again", "body")
    assert n.deliveries["webhook"].startswith("failed:") and "loopback" in n.deliveries["webhook"]
    assert analyst.notifications.list()[0].deliveries["webhook"].startswith("failed:")


def test_email_through_smtp_with_a_sealed_password(workspace, steward, analyst, smtp) -> None:
    workspace.settings.smtp_url = f"smtp://notify@127.0.0.1:{smtp.port}"
    workspace.settings.smtp_password = "fernet:" + workspace.secrets.seal("s3cret-pw")
    workspace.settings.smtp_from = "govfabric@example.gov.cn"
    with pytest.raises(ValidationFailed, match="not an e-mail address"):
        analyst.notifications.configure(email="a@b.c\r\nBcc: x@y.z")
    analyst.notifications.configure(email="analyst1@example.gov.cn")
    n = steward.notifications.send("analyst1", "新回复：数据需求", "内容 body", link="/api/v1/topics/abc")
    assert n.deliveries["email"] == "sent", n.deliveries
    [env] = smtp.handler_.messages
    assert env.rcpt_tos == ["analyst1@example.gov.cn"] and env.mail_from == "govfabric@example.gov.cn"
    msg = message_from_bytes(env.content)
    assert str(make_header(decode_header(msg["Subject"]))) == "新回复：数据需求"
    text = msg.get_payload(decode=True).decode("utf-8")
    assert "内容 body" in text and "/api/v1/topics/abc" in text
    # a wrong password: recorded as failed, the password never in the record
    workspace.settings.smtp_password = "fernet:" + workspace.secrets.seal("wrong-pw")
    n = steward.notifications.send("analyst1", "x", "y")
    assert n.deliveries["email"].startswith("failed:") and "wrong-pw" not in n.deliveries["email"]
    assert n.deliveries["in_app"] == "stored"
    # no SMTP configured: failed, with what to do
    workspace.settings.smtp_url = None
    n = steward.notifications.send("analyst1", "x", "y")
    assert "smtp_url" in n.deliveries["email"]


def test_reply_reaches_the_starter_by_email(workspace, steward, analyst, smtp) -> None:
    workspace.settings.smtp_url = f"smtp://notify@127.0.0.1:{smtp.port}"
    workspace.settings.smtp_password = "fernet:" + workspace.secrets.seal("s3cret-pw")
    steward.notifications.configure(email="steward1@example.gov.cn")
    t = steward.topics.start("question", "口径问题", "?")
    analyst.topics.reply(t.id, "答")
    [env] = smtp.handler_.messages
    assert env.rcpt_tos == ["steward1@example.gov.cn"]
    assert steward.notifications.list()[0].deliveries["email"] == "sent"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_notifications_api(workspace, steward, router_client, hook) -> None:
    steward.notifications.send("analyst1", "s1", "b1")
    steward.notifications.send("analyst1", "s2", "b2")
    c = router_client(workspace, router, "analyst1")
    listed = c.get("/api/v1/notifications").json()
    assert [n["subject"] for n in listed] == ["s2", "s1"] and not listed[0]["read"]
    r = c.post(f"/api/v1/notifications/{listed[1]['id']}/read")
    assert r.status_code == 200 and r.json()["read"]
    assert [n["subject"] for n in c.get("/api/v1/notifications", params={"unread": True}).json()] == ["s2"]
    other = router_client(workspace, router, "steward1")
    assert other.post(f"/api/v1/notifications/{listed[0]['id']}/read").status_code == 404
    assert c.post("/api/v1/notifications/../read").status_code in (404, 422)
    assert c.put("/api/v1/notifications/settings", json={"webhook_url": "http://169.254.169.254/x"}
                 ).status_code == 422
    workspace.settings.data_service_allow_loopback = True
    put = c.put("/api/v1/notifications/settings", json={"webhook_url": hook.url, "email": "a1@example.gov.cn"})
    assert put.status_code == 200 and put.json()["webhook_secret"]
    assert c.get("/api/v1/notifications/settings").json() == {
        "principal": "analyst1", "email": "a1@example.gov.cn", "webhook_url": hook.url, "webhook_secret": None}
    assert router_client(workspace, router, None).get("/api/v1/notifications").status_code == 401


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_notifications_cli(workspace, steward) -> None:
    runner = CliRunner()
    home = str(workspace.settings.home)
    n = steward.notifications.send("analyst1", "[bold]提醒[/bold]", "请补齐")
    r = runner.invoke(app, ["--home", home, "--as", "analyst1", "notifications", "list", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["id"] == n.id
    r = runner.invoke(app, ["--home", home, "--as", "analyst1", "notifications", "read", n.id])
    assert r.exit_code == 0 and "[bold]提醒[/bold]" in r.output and "请补齐" in r.output
    r = runner.invoke(app, ["--home", home, "--as", "analyst1", "notifications", "list", "--unread", "--json"])
    assert json.loads(r.output) == []
    r = runner.invoke(app, ["--home", home, "--as", "steward1", "notifications", "read", n.id])
    assert r.exit_code != 0 and "no notification" in str(r.exception)
    r = runner.invoke(app, ["--home", home, "--as", "analyst1", "notifications", "settings",
                            "--email", "a1@example.gov.cn", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["email"] == "a1@example.gov.cn"
