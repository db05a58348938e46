"""Hot searches (§9.4.4.4) on every portal page: kept per process for ``HOT_SECONDS`` and while no
asset changes (``memo.kept_for``), so a burst of new searches shows within that bound; only queries
that find open, active assets now are shown — whoever searched a closed data set, and wherever.
And the signed-in form posts that run through ``_act``: favourite, access request, decision."""

from __future__ import annotations

from typing import Any

import pytest
from portal_helpers import ASSET, TABLE, csrf_of, post_form, sign_in

from govfabric.catalog import memo
from govfabric.sharing_modes.portal import router

TERM = "t_qy_jbxx"  # the enterprise register's own name: no other asset matches it
LINK = f'<a href="/portal/search?q={TERM}">{TERM}</a>'


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000_000.0]
    monkeypatch.setattr(memo, "_clock", lambda: now[0])
    return now


def test_a_burst_of_searches_shows_within_the_bound(client: Any, clock: list[float]) -> None:
    assert LINK not in client.get("/portal").text  # nothing searched yet: kept for this bucket
    for _ in range(3):
        assert client.get("/portal/search", params={"q": TERM}).status_code == 200
    assert LINK not in client.get("/portal").text  # kept: the log's GROUP BY is not run per page
    clock[0] += router.HOT_SECONDS  # the bound: the next request after it counts the burst
    assert f"{LINK} (3)" in client.get("/portal").text
    assert f"{LINK} (3)" in client.get("/portal/search").text


def test_hot_searches_never_name_closed_assets(client: Any, clock: list[float]) -> None:
    world = client.world
    world.admin.catalog.classify(ASSET, open_class="not_open")
    for _ in range(3):  # staff search the catalog outside the portal: closed assets count
        assert world.admin.catalog.search(TERM)
    assert TERM in dict(world.admin.catalog.hot_searches())  # the log's rule: it found something
    assert TERM not in client.get("/portal").text and TERM not in client.get("/portal/search").text

    world.admin.catalog.classify(ASSET, open_class="conditional_open")  # an asset change: at once
    assert f"{LINK} (3)" in client.get("/portal").text
    world.admin.catalog.classify(ASSET, open_class="not_open")
    assert TERM not in client.get("/portal").text  # no clock moved: the change counter did


def test_favourite_request_and_decision_posts(client: Any) -> None:
    world = client.world
    asset = world.catalog.asset(ASSET)
    page = f"/portal/asset/{asset.id}"
    token = csrf_of(client.get("/portal/login").text)  # the visitor's token: valid, but not signed in
    r = client.post(f"{page}/favourite", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/login")  # not signed in

    assert sign_in(client, "analyst1").status_code == 303
    analyst = world.as_user("analyst1")
    before = [a.id for a in analyst.catalog.favorites()]  # the demo's own favourites
    assert asset.id not in before
    for _ in range(2):  # pressed twice: still one favourite, no error
        r = post_form(client, page, f"{page}/favourite")
        assert r.status_code == 303 and r.headers["location"] == page
    assert [a.id for a in analyst.catalog.favorites()] == [*before, asset.id]
    assert post_form(client, page, f"{page}/favourite", remove="1").status_code == 303
    assert [a.id for a in analyst.catalog.favorites()] == before
    assert client.post(f"{page}/favourite", data={"csrf_token": "0" * 64}).status_code == 403

    assert post_form(client, page, f"{page}/request", table="other.table", purpose="x").status_code == 404
    r = post_form(client, page, f"{page}/request", table=TABLE, purpose="企业信用分析")
    assert r.status_code == 303 and r.headers["location"] == "/portal/me"
    (req,) = world.access.requests("pending")

    client.cookies.clear()
    assert sign_in(client, "steward_mr").status_code == 303
    assert post_form(client, "/portal/inbox", f"/portal/inbox/{req.id}/maybe").status_code == 404
    r = post_form(client, "/portal/inbox", f"/portal/inbox/{req.id}/approve", reason="ok")
    assert r.status_code == 303 and r.headers["location"] == "/portal/inbox"
    assert not world.access.requests("pending")
