"""The portal's non-browser rules through the real server app: sessions (argon2 passwords, cookie
flags, logout), CSRF (403 without the token), the CSP header, login throttling, anonymous visitors
on public pages only, and search terms / descriptions rendered inert."""

from __future__ import annotations

from typing import Any

from portal_helpers import ASSET, PASSWORD, TABLE, csrf_of, sign_in
from sqlalchemy import text


def test_password_hashed_and_session_cookie_flags(client: Any) -> None:
    with client.world.store.session() as s:
        stored = s.execute(text("SELECT hash FROM auth_passwords WHERE principal = 'analyst1'")).scalar_one()
        sessions = s.execute(text("SELECT count(*) FROM auth_web_sessions")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored and sessions == 0
    r = sign_in(client, "analyst1")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("gf_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    with client.world.store.session() as s:  # only the keyed digest is kept
        digests = s.execute(text("SELECT digest FROM auth_web_sessions")).scalars().all()
    assert len(digests) == 1 and value not in digests[0] and len(digests[0]) == 64
    me = client.get("/portal/me")
    assert me.status_code == 200 and "analyst1" in me.text
    out = client.post("/portal/logout", data={"csrf_token": csrf_of(me.text)})
    assert out.status_code == 303
    client.cookies.set("gf_session", value, path="/portal")  # the old cookie no longer opens anything
    assert client.get("/portal/me").status_code == 303
    with client.world.store.session() as s:
        actions = s.execute(text("SELECT action FROM auth_audit_events WHERE action LIKE 'portal.%'")).scalars().all()
    assert actions == ["portal.login", "portal.logout"]


def test_wrong_password_refused_and_audited_then_throttled(client: Any) -> None:
    codes = [sign_in(client, "analyst1", "wrong password!").status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    assert sign_in(client, "analyst1").status_code == 429  # the right password waits too
    with client.world.store.session() as s:
        failed = s.execute(text("SELECT count(*) FROM auth_audit_events WHERE action = 'portal.login_failed'")
                           ).scalar_one()
    assert failed == 5


def test_form_without_csrf_is_403(client: Any) -> None:
    r = client.post("/portal/login", data={"name": "analyst1", "password": PASSWORD})
    assert r.status_code == 403 and "gf_session" not in r.headers.get("set-cookie", "")
    assert sign_in(client, "analyst1").status_code == 303
    bad = client.post("/portal/sql", data={"sql": "SELECT 1", "csrf_token": "0" * 64})
    assert bad.status_code == 403
    other = client.get("/portal/login").cookies  # another visitor's token does not fit this cookie
    assert other is not None


def test_csp_and_security_headers(client: Any) -> None:
    r = client.get("/portal")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text and " on" not in "".join(t for t in r.text.split("<") if t.startswith("button"))
    st = client.get("/portal/static/htmx.min.js")
    assert st.status_code == 200 and "max-age=31536000" in st.headers["cache-control"]
    assert client.get("/").headers["location"] == "/portal"


def test_anonymous_sees_public_pages_only(client: Any) -> None:
    home = client.get("/portal")
    assert home.status_code == 200 and "企业" in home.text  # the open-on-request register is listed
    assert "t_jcaj" not in home.text  # not_open assets are not
    for path in ("/portal/me", "/portal/sql", "/portal/inbox", "/portal/audit"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/portal/login"), path
    token = csrf_of(client.get("/portal/login").text)
    r = client.post("/portal/sql", data={"csrf_token": token, "sql": f"SELECT * FROM {TABLE}"})
    assert r.status_code == 303  # anonymous: to the login page, no query ran
    asset = client.world.catalog.asset(ASSET)
    detail = client.get(f"/portal/asset/{asset.id}")
    assert detail.status_code == 200 and "登录后申请访问" in detail.text
    closed = client.world.catalog.asset("mr_db.main.t_jcaj")
    assert client.get(f"/portal/asset/{closed.id}").status_code == 404
    assert client.world.catalog.search("t_jcaj", log=False)  # the catalog finds it, the portal does not show it
    assert closed.id not in client.get("/portal/search", params={"q": "t_jcaj"}).text


def test_search_highlight_and_xss_inert(client: Any) -> None:
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    client.world.catalog.annotate(ASSET, description=f"企业登记信息 {payload}")
    r = client.get("/portal/search", params={"q": "企业"})
    assert r.status_code == 200 and "<mark>企业</mark>" in r.text
    assert "<script>alert" not in r.text and "<img src=x" not in r.text and "&lt;script&gt;" in r.text
    evil = client.get("/portal/search", params={"q": payload})
    assert "<script>alert" not in evil.text and "&lt;script&gt;alert(1)" in evil.text
    detail = client.get(f"/portal/asset/{client.world.catalog.asset(ASSET).id}")
    assert "<img src=x" not in detail.text and "&lt;img src=x" in detail.text


def test_english_toggle(client: Any) -> None:
    assert "开放数据门户" in client.get("/portal").text
    r = client.get("/portal/lang/en", params={"next": "/portal/search"})
    assert r.status_code == 303 and r.headers["location"] == "/portal/search"
    assert "Open data portal" in client.get("/portal").text
    for evil in ("//evil.example", "/portal\\@evil.example", "https://evil.example/portal"):
        assert client.get("/portal/lang/en", params={"next": evil}).headers["location"] == "/portal"


def test_page_weight_under_200_kb(client: Any) -> None:
    """The issue's budget: a page with its CSS and script, uncompressed, ≤ 200 KB."""
    page = client.get("/portal/search", params={"q": "企业"})
    assets = [client.get(f"/portal/static/{n}") for n in ("pico.min.css", "portal.css", "htmx.min.js")]
    assert all(a.status_code == 200 for a in assets)
    total = len(page.content) + sum(len(a.content) for a in assets)
    assert total <= 200 * 1024, total


def test_public_grant_shows_a_masked_sample_and_hot_searches(client: Any) -> None:
    asset = client.world.catalog.asset(ASSET)
    assert "登录后申请访问" in client.get(f"/portal/asset/{asset.id}").text  # creates `public`, no grant yet
    assert "public" in {p.name for p in client.world.principals()}
    assert "admin" not in next(p for p in client.world.principals() if p.name == "public").roles
    client.world.access.grant("public", TABLE, columns=["name", "legal_rep_id"])
    detail = client.get(f"/portal/asset/{asset.id}").text
    assert "登录后申请访问" not in detail and "legal_rep_id" in detail
    shown = client.world.as_user("public").sql(f"SELECT legal_rep_id FROM {TABLE} LIMIT 5").column(0).to_pylist()
    raw = client.world.sql(f"SELECT legal_rep_id FROM {TABLE} LIMIT 5").column(0).to_pylist()
    assert all("*" in v for v in shown) and all(v in detail for v in shown) and not any(v in detail for v in raw)
    client.get("/portal/search", params={"q": "企业"})
    assert '<a href="/portal/search?q=%E4%BC%81%E4%B8%9A">企业</a>' in client.get("/portal").text  # a hot search


def test_anonymous_visits_are_rate_limited_per_client(portal_world: Any) -> None:
    from fastapi.testclient import TestClient

    from govfabric.fabric import Fabric
    from govfabric.server.app import create_app

    admin = portal_world.admin
    origin = Fabric(admin.settings.model_copy(update={"rate_limit": "3/minute"}), admin.user)
    with TestClient(create_app(origin)) as c:
        codes = [c.get("/portal/search", params={"q": "企业"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
