"""The portal's account pages through the real server app: ordering a data service and listing it,
personal access tokens (shown once, listed, revoked), apps for stewards, lineage impact for auditors;
CSRF on every form, roles enforced, secrets and user text never rendered live."""

from __future__ import annotations

from typing import Any

from portal_helpers import ASSET, TABLE, XSS, post_form, signed_in

from govfabric.auth import apps, tokens


def _asset_id(client: Any) -> str:
    return client.world.catalog.asset(ASSET).id


def test_order_a_data_service_and_list_it(client: Any) -> None:
    c = signed_in(client, "analyst1")
    page = f"/portal/asset/{_asset_id(client)}/subscribe"
    form = c.get(page)
    assert form.status_code == 200 and f'<option value="{TABLE}">' in form.text
    assert form.headers["cache-control"] == "no-store"
    r = post_form(c, page, page, table=TABLE, columns="uscc, name", filter="district = '01'", purpose=f"监测 {XSS}")
    assert r.status_code == 303 and r.headers["location"] == "/portal/subscriptions"
    (sub,) = client.world.subscriptions.list()
    assert sub.subscriber == "analyst1" and sub.columns == ["uscc", "name"] and sub.status == "pending"
    listed = c.get("/portal/subscriptions")
    assert listed.status_code == 200 and f"<code>{TABLE}</code>" in listed.text and "uscc, name" in listed.text
    assert "pending" in listed.text and "<script>alert" not in listed.text and "&lt;script&gt;alert(1)" in listed.text
    # a table not over this asset, a bad column: refused with the reason, nothing ordered
    assert post_form(c, page, page, table="other.table", purpose="x").status_code == 404
    bad = post_form(c, page, page, table=TABLE, columns="nope", purpose="监测")
    assert bad.status_code == 422 and "nope" in bad.text
    assert len(client.world.subscriptions.list()) == 1
    assert c.get("/portal/subscriptions").text.count("<tr><td>") == 1


def test_push_secret_shown_once(client: Any) -> None:
    client.world.admin.settings.data_service_allow_loopback = True  # the push target is this machine
    c = signed_in(client, "analyst1")
    page = f"/portal/asset/{_asset_id(client)}/subscribe"
    r = post_form(c, page, page, table=TABLE, purpose="变更推送监测", push_url="http://127.0.0.1:9/hook")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = r.text.split('<code class="secret">', 1)[1].split("</code>", 1)[0]
    assert len(secret) >= 40
    assert secret not in c.get("/portal/subscriptions").text


def test_keys_shown_once_listed_and_revoked(client: Any) -> None:
    c = signed_in(client, "analyst1")
    r = post_form(c, "/portal/keys", "/portal/keys", name=f"脚本 {XSS}", expires="2w")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = r.text.split('<code class="secret">', 1)[1].split("</code>", 1)[0]
    assert token.startswith(tokens.PREFIX)
    analyst = client.world.as_user("analyst1")
    assert tokens.authenticate(analyst, token) == "analyst1"
    (info,) = tokens.list_tokens(analyst)
    page = c.get("/portal/keys").text
    assert token not in page and info.id in page and "<script>alert" not in page and "&lt;script&gt;" in page
    assert c.post(f"/portal/keys/{info.id}/revoke", data={}).status_code == 403
    assert tokens.list_tokens(analyst)[0].revoked_at is None
    # another person cannot revoke it
    signed_in(c, "steward_mr")
    assert info.id not in c.get("/portal/keys").text
    assert post_form(c, "/portal/keys", f"/portal/keys/{info.id}/revoke").status_code == 403
    signed_in(c, "analyst1")
    assert post_form(c, "/portal/keys", f"/portal/keys/{info.id}/revoke").status_code == 303
    assert tokens.list_tokens(analyst)[0].revoked_at is not None
    assert post_form(c, "/portal/keys", "/portal/keys", expires="forever").status_code == 422
    assert c.post("/portal/keys", data={"expires": "1d"}).status_code == 403
    assert len(tokens.list_tokens(analyst)) == 1


def test_apps_for_stewards_only(client: Any) -> None:
    dept = next(p for p in client.world.principals() if p.name == "steward_mr").department
    issued = apps.add(client.world.admin, "mr_app", department=dept)
    c = signed_in(client, "analyst1")
    assert c.get("/portal/apps").status_code == 403
    assert 'href="/portal/apps"' not in c.get("/portal/keys").text
    signed_in(c, "steward_mr")
    page = c.get("/portal/apps")
    assert page.status_code == 200 and issued.key_id in page.text and issued.secret not in page.text
    assert c.post("/portal/apps/mr_app/disable", data={}).status_code == 403
    assert post_form(c, "/portal/apps", "/portal/apps/mr_app/disable").status_code == 303
    assert not apps.list_apps(client.world.admin)[0].active
    signed_in(c, "analyst1")
    assert post_form(c, "/portal/keys", "/portal/apps/mr_app/enable").status_code == 403
    assert not apps.list_apps(client.world.admin)[0].active


def test_lineage_impact_for_auditors(client: Any) -> None:
    c = signed_in(client, "analyst1")
    assert c.get("/portal/lineage", params={"ref": ASSET}).status_code == 403
    assert 'href="/portal/lineage"' not in c.get("/portal/keys").text
    signed_in(c, "auditor1")
    assert 'href="/portal/lineage"' in c.get("/portal/keys").text
    r = c.get("/portal/lineage", params={"ref": ASSET})
    assert r.status_code == 200 and f"<code>govfabric://demo/{TABLE}</code>" in r.text and "<svg" in r.text
    missing = c.get("/portal/lineage", params={"ref": f"no.such.{XSS}"})
    assert missing.status_code == 404 and "<script>alert" not in missing.text
    c.cookies.clear()
    for path in ("/portal/lineage", "/portal/keys", "/portal/apps", "/portal/subscriptions",
                 f"/portal/asset/{_asset_id(client)}/subscribe"):
        assert c.get(path).status_code == 303, path
