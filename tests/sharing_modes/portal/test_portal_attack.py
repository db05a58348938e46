"""Attack probes on the portal (session 6) by an analyst holding one narrow grant on the enterprise
register (Chaoyang rows only, the legal representative's ID masked), another department's steward
and an anonymous visitor."""

from __future__ import annotations

from typing import Any

from portal_helpers import TABLE, csrf_of, sign_in

from govfabric.auth import passwords

ROW_FILTER = "district = '朝阳区'"


def _narrow(c: Any) -> Any:
    world = c.world
    world.access.grant("analyst1", TABLE, row_filter=ROW_FILTER)
    return world


def _sql(c: Any, sql: str, **extra: str) -> Any:
    token = csrf_of(c.get("/portal/sql").text)
    return c.post("/portal/sql", data={"csrf_token": token, "sql": sql, **extra})


def _hidden_names(world: Any) -> list[str]:
    rows = world.sql(f"SELECT name FROM {TABLE} WHERE NOT ({ROW_FILTER})").to_pylist()
    return [r["name"] for r in rows if r["name"]]


def test_workbench_errors_and_csv_show_no_row_outside_the_grant(client: Any) -> None:
    world = _narrow(client)
    hidden = _hidden_names(world)
    assert hidden
    assert sign_in(client, "analyst1").status_code == 303
    for sql in (f"SELECT 1 FROM {TABLE} WHERE CAST(name AS INTEGER) = 1",
                f"SELECT CAST(name AS INTEGER) FROM {TABLE}",
                f"SELECT 1 FROM {TABLE} WHERE district <> '朝阳区' AND CAST(name AS INTEGER) = 1",
                f"SELECT sum(CAST(legal_rep_id AS BIGINT)) FROM {TABLE}",
                f"SELECT legal_rep_id::DATE FROM {TABLE}"):
        resp = _sql(client, sql)
        leaked = [n for n in hidden if n in resp.text]
        assert not leaked, (sql, leaked, resp.text[-2000:])
    resp = _sql(client, f"SELECT * FROM {TABLE}", format="csv")
    assert not [n for n in hidden if n in resp.content.decode("utf-8-sig")]


def test_inbox_refuses_ones_own_request_and_another_departments_steward(client: Any) -> None:
    world = client.world
    assert sign_in(client, "analyst1").status_code == 303
    page = client.get(f"/portal/asset/{world.catalog.asset('mr_db.main.t_qy_jbxx').id}")
    token = csrf_of(page.text)
    r = client.post(f"/portal/asset/{world.catalog.asset('mr_db.main.t_qy_jbxx').id}/request",
                    data={"csrf_token": token, "table": TABLE, "purpose": "核验企业信息"})
    assert r.status_code == 303
    req = world.access.requests("pending")[0]
    r = client.post(f"/portal/inbox/{req.id}/approve", data={"csrf_token": token})
    assert r.status_code == 403  # never one's own request
    assert not world.access.grants(grantee="analyst1")
    passwords.set_password(world.admin, "steward_ps", "correct horse battery")
    client.cookies.clear()
    assert sign_in(client, "steward_ps").status_code == 303
    token = csrf_of(client.get("/portal/inbox").text)
    r = client.post(f"/portal/inbox/{req.id}/approve", data={"csrf_token": token})
    assert r.status_code == 403  # not the owning department's steward
    assert not world.access.grants(grantee="analyst1")


def test_anonymous_hot_searches_never_show_a_search_for_a_closed_asset(client: Any) -> None:
    """A steward's catalog search finding a 不予开放 asset must not surface, as its text, among the hot
    searches the open portal shows everyone."""
    world = client.world
    closed = next(a for a in world.catalog.assets() if a.open_class == "not_open" and not a.name.isascii())
    assert world.catalog.search(closed.name)  # the steward's search finds it (results > 0)
    world.catalog.search("企业")  # and one that finds open data
    for path in ("/portal", "/portal/search"):
        page = client.get(path).text
        assert closed.name not in page and ">企业</a>" in page


def test_a_new_password_ends_the_sessions_opened_with_the_old_one(client: Any) -> None:
    """Someone signed in with a leaked password keeps no session once the password is reset."""
    world = client.world
    assert sign_in(client, "analyst1").status_code == 303
    assert client.get("/portal/me").status_code == 200
    passwords.set_password(world.admin, "analyst1", "a brand new passphrase")
    assert client.get("/portal/me").status_code == 303  # back to the login page
    reset = world.admin.audit.events(action="auth.password.set")[-1]
    assert reset.details["sessions_ended"] == 1


def test_another_topics_attachment_is_not_served_under_this_topic(client: Any) -> None:
    """Attachment ids are per topic: topic A's page path does not serve topic B's file; anonymous
    visitors get the login page, never the file."""
    world = client.world
    mine = world.as_user("analyst1").topics.start("question", "我的问题", "正文")
    theirs = world.topics.start("notice", "内部通知", "正文")
    secret = world.topics.attach(theirs.id, "note.txt", [b"internal figures 4711"])
    assert client.get(f"/portal/topics/{theirs.id}/attachments/{secret.id}").status_code == 303  # anonymous
    assert sign_in(client, "analyst1").status_code == 303
    wrong = client.get(f"/portal/topics/{mine.id}/attachments/{secret.id}")
    # the file's text, not a bare number: a 404 page's random request id or CSP nonce held "4711" once
    assert wrong.status_code == 404 and b"internal figures" not in wrong.content
    right = client.get(f"/portal/topics/{theirs.id}/attachments/{secret.id}")
    assert right.status_code == 200 and right.headers["content-disposition"].startswith("attachment")
    downloads = world.admin.audit.events(action="topic.download")
    assert [e.actor for e in downloads] == ["analyst1"]  # only the served read, by who read it
