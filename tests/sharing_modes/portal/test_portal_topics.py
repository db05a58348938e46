"""The portal's information-sync pages, notifications and an asset's ways in, through the real server
app: search and start topics, reply (the starter is notified and marks it read), attachments as
download links served as attachments, titles and bodies rendered inert, CSRF on every form."""

from __future__ import annotations

from typing import Any

from portal_helpers import ASSET, TABLE, XSS, post_form, signed_in


def test_topic_start_reply_notify_and_xss_inert(client: Any) -> None:
    c = signed_in(client, "steward_mr")
    r = post_form(c, "/portal/topics", "/portal/topics", type="question", title=f"数据更新 {XSS}",
              body=f"第一行\n{XSS}")
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/topics/")
    page = r.headers["location"]
    topic_id = page.rsplit("/", 1)[1]
    shown = c.get(page).text
    assert "<script>alert" not in shown and "<img src=x" not in shown and shown.count("&lt;script&gt;alert(1)") >= 3

    signed_in(c, "analyst1")
    listed = c.get("/portal/topics", params={"text": "数据更新", "type": "question", "starter": "steward_mr"})
    assert listed.status_code == 200 and f'href="/portal/topics/{topic_id}"' in listed.text
    assert "<script>alert" not in listed.text
    assert topic_id not in c.get("/portal/topics", params={"type": "notice"}).text
    assert post_form(c, page, f"{page}/reply", body=f"已收到 {XSS}").status_code == 303
    assert "已收到" in c.get(page).text and "<img src=x" not in c.get(page).text
    assert 'action="/portal/topics/' + topic_id + '/delete"' not in c.get(page).text  # not the starter
    assert post_form(c, page, f"{page}/delete").status_code == 403

    signed_in(c, "steward_mr")
    inbox = c.get("/portal/notifications")
    assert inbox.status_code == 200 and "未读" in inbox.text and f'href="/portal/topics/{topic_id}"' in inbox.text
    assert "<script>alert" not in inbox.text and "<img src=x" not in inbox.text
    (n,) = client.world.notifications.list()
    assert post_form(c, "/portal/notifications", f"/portal/notifications/{n.id}/read").status_code == 303
    assert client.world.notifications.list(unread=True) == []
    assert "标为已读" not in c.get("/portal/notifications").text
    assert post_form(c, page, f"{page}/delete").status_code == 303
    assert c.get(page).status_code == 404


def test_attachment_is_a_download_link(client: Any) -> None:
    t = client.world.topics.start("notice", "附件", "见附件")
    a = client.world.topics.attach(t.id, "report.html", [b"<html><script>alert(1)</script></html>"])
    c = signed_in(client, "analyst1")
    page = c.get(f"/portal/topics/{t.id}").text
    link = f"/portal/topics/{t.id}/attachments/{a.id}"
    assert f'href="{link}"' in page and "govfabric topic attach" in page
    r = c.get(link)
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]
    assert c.get(f"/portal/topics/{t.id}/attachments/{'0' * 32}").status_code == 404
    c.cookies.clear()
    assert c.get(link).status_code == 303  # anonymous: to the login page


def test_topic_forms_without_csrf_are_403_and_anonymous_sent_to_login(client: Any) -> None:
    t = client.world.topics.start("notice", "通知", "内容")
    c = signed_in(client, "analyst1")
    for action in ("/portal/topics", f"/portal/topics/{t.id}/reply", f"/portal/topics/{t.id}/delete",
                   "/portal/notifications/" + "0" * 32 + "/read"):
        assert c.post(action, data={"type": "notice", "title": "x", "body": "y"}).status_code == 403, action
    assert client.world.topics.get(t.id)["replies"] == []
    c.cookies.clear()
    for path in ("/portal/topics", f"/portal/topics/{t.id}", "/portal/notifications"):
        assert c.get(path).status_code == 303, path


def test_asset_links_services_datasets_and_lineage(client: Any) -> None:
    world = client.world
    asset = world.catalog.asset(ASSET)
    world.datasets.publish(TABLE, ["csv"], title="企业名录")
    world.access.grant("analyst1", TABLE, columns=["uscc", "name", "legal_rep_id"])
    world.query_api.create("ent_lookup", TABLE, params={"uscc": ["eq"]}, columns=["uscc", "name"])
    detail = client.get(f"/portal/asset/{asset.id}").text
    assert f'hx-get="/portal/asset/{asset.id}/links"' in detail
    anon = client.get(f"/portal/asset/{asset.id}/links", headers={"hx-request": "true"})
    assert anon.status_code == 200 and "<html" not in anon.text and "登录后下载" in anon.text
    assert "/delta-sharing" in anon.text and "<svg" not in anon.text  # no lineage for visitors
    assert "ent_lookup" not in anon.text  # `public` holds no grant on the table: not callable
    c = signed_in(client, "analyst1")
    full = c.get(f"/portal/asset/{asset.id}/links")
    assert full.status_code == 200 and "<html" in full.text and "<svg" in full.text and "数据血缘" in full.text
    assert "GET /api/v1/query/ent_lookup" in full.text  # the analyst's grant makes it callable
    r = post_form(c, f"/portal/asset/{asset.id}/links", f"/portal/asset/{asset.id}/download",
              dataset=TABLE, format="csv")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/api/v1/datasets/{TABLE}/download?")
    got = c.get(r.headers["location"])
    assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
    assert c.post(f"/portal/asset/{asset.id}/download", data={"dataset": TABLE, "format": "csv"}).status_code == 403
    closed = world.catalog.asset("mr_db.main.t_jcaj")
    c.cookies.clear()
    assert client.get(f"/portal/asset/{closed.id}/links").status_code == 404
