"""The portal's sharing-process pages through the real server app: offers by state, a share's
page with its history, the lifecycle steps in the browser's forms (CSRF on each, roles enforced:
an analyst gets 403), requests on a published share, reasons rendered inert, and the statistics
chart (inline SVG with text labels and numbers, no script) beside its table."""

from __future__ import annotations

import re
from typing import Any

import pytest
from portal_helpers import TABLE, XSS, csrf_of, post_form, reviewer_and_draft_share, signed_in


@pytest.fixture
def shares(client: Any) -> Any:
    """A draft share of the enterprise register and a 共享主管部门 reviewer who can sign in."""
    reviewer_and_draft_share(client.world, title="企业登记 share")
    return client


def test_lifecycle_in_the_portal_with_reasons_and_history(shares: Any) -> None:
    c = signed_in(shares, "steward_mr")
    page = f"/portal/shares/{TABLE}"
    listing = c.get("/portal/shares", params={"state": "draft"})
    assert listing.status_code == 200 and f'href="/portal/shares/{TABLE}"' in listing.text
    assert 'action="/portal/shares/market.enterprise/submit"' in c.get(page).text
    assert post_form(c, page, f"{page}/submit", reason=f"ready {XSS}").status_code == 303
    assert 'action="/portal/shares/market.enterprise/approve"' not in c.get(page).text  # not a reviewer

    r = signed_in(c, "reviewer1")
    review = c.get(page).text
    assert "/approve" in review and "/return" in review and "/publish" not in review
    assert post_form(c, page, f"{page}/approve", reason="分类正确").status_code == 303
    assert shares.world.shares.show(TABLE)["state"] == "reviewed"
    r = post_form(c, page, f"{page}/publish", reason="go live")  # the reviewer may not publish
    assert r.status_code == 403 and shares.world.shares.show(TABLE)["state"] == "reviewed"

    signed_in(c, "steward_mr")
    assert post_form(c, page, f"{page}/publish", reason="上线").status_code == 303
    shown = c.get(page).text
    assert "已发布" in shown and "分类正确" in shown and "上线" in shown  # state and reasons in the history
    assert "<script>alert" not in shown and "<img src=x" not in shown and "&lt;script&gt;alert(1)" in shown
    assert len(re.findall(r"<td class=\"reason\">", shown)) == 4  # created, submitted, reviewed, published
    assert post_form(c, page, f"{page}/suspend", reason="维护").status_code == 303
    assert post_form(c, page, f"{page}/publish", reason="恢复").status_code == 303
    assert shares.world.shares.show(TABLE)["state"] == "published"


def test_request_a_published_share_and_analyst_refused_steward_steps(shares: Any, walk_share: Any) -> None:
    walk_share(shares.world)
    c = signed_in(shares, "analyst1")
    page = f"/portal/shares/{TABLE}"
    shown = c.get(page).text
    assert "/publish" not in shown and "/suspend" not in shown and "/retire" not in shown
    for action in ("suspend", "retire", "approve", "submit", "publish"):
        r = post_form(c, page, f"{page}/{action}", reason="I should not")
        assert r.status_code == 403, action
    assert shares.world.shares.show(TABLE)["state"] == "published"
    r = post_form(c, page, f"{page}/request", purpose="企业信用分析")
    assert r.status_code == 303
    mine = shares.world.as_user("analyst1").shares.requests(TABLE)
    assert [m["requester"] for m in mine] == ["analyst1"] and mine[0]["status"] == "granted"
    assert "企业信用分析" in c.get(page).text


def test_forms_without_csrf_are_403(shares: Any) -> None:
    c = signed_in(shares, "steward_mr")
    page = f"/portal/shares/{TABLE}"
    for action in ("submit", "request", "retire"):
        assert c.post(f"{page}/{action}", data={"reason": "no token"}).status_code == 403
        assert c.post(f"{page}/{action}", data={"reason": "bad", "csrf_token": "0" * 64}).status_code == 403
    assert shares.world.shares.show(TABLE)["state"] == "draft"


def test_anonymous_sees_published_shares_only(shares: Any, walk_share: Any) -> None:
    assert TABLE not in shares.get("/portal/shares").text  # a draft is the department's
    assert shares.get(f"/portal/shares/{TABLE}").status_code == 404
    walk_share(shares.world)
    assert TABLE in shares.get("/portal/shares").text
    page = shares.get(f"/portal/shares/{TABLE}")
    assert page.status_code == 200 and "登录后申请访问" in page.text and "/publish" not in page.text
    token = csrf_of(shares.get("/portal/login").text)
    r = shares.post(f"/portal/shares/{TABLE}/suspend", data={"csrf_token": token, "reason": "anon"})
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/login")
    assert shares.get("/portal/shares/stats").status_code == 303


def test_statistics_chart_is_svg_with_text_labels(shares: Any, walk_share: Any) -> None:
    walk_share(shares.world)
    shares.world.as_user("analyst1").shares.request(TABLE, "企业信用分析")
    c = signed_in(shares, "reviewer1")
    r = c.get("/portal/shares/stats")
    assert r.status_code == 200 and "<script" not in r.text.split("</head>", 1)[1]
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", r.text, re.S)
    assert len(svgs) == 5 and all('role="img"' in s for s in svgs)
    dept = shares.world.catalog.asset("mr_db.main.t_qy_jbxx").owner_department
    offers = svgs[0]
    assert f">{dept[:24]}</text>" in offers and ">1</text>" in offers and "<rect" in offers  # label, number, bar
    assert f'<th scope="row">{dept}</th>' in r.text  # and the table
    signed_in(c, "analyst1")
    assert c.get("/portal/shares/stats").status_code == 403


def test_step_buttons_in_both_languages(shares: Any) -> None:
    c = signed_in(shares, "steward_mr")
    page = f"/portal/shares/{TABLE}"
    assert ">提交审核</button>" in c.get(page).text
    c.get("/portal/lang/en", params={"next": page})
    english = c.get(page).text
    assert ">Submit for review</button>" in english and "Statistics per department" in c.get("/portal/shares").text
