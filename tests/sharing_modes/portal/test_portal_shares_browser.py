"""The sharing process in a real Chromium: a 共享主管部门 reviewer reviews a submitted share, the
department's steward publishes it, and the share's page then shows it published with both reasons.
Screenshots of failures are kept in test-results/portal/ (conftest)."""

from __future__ import annotations

from typing import Any

from portal_helpers import TABLE, axe_serious, browser_sign_in, reviewer_and_draft_share


def test_reviewer_reviews_and_steward_publishes(new_page: Any, live_portal: str, portal_world: Any) -> None:
    reviewer_and_draft_share(portal_world)
    portal_world.shares.submit(TABLE, "ready for review")
    base = live_portal
    reviewer = new_page()
    steward = new_page()

    browser_sign_in(reviewer, base, "reviewer1")
    reviewer.get_by_role("link", name="共享目录").click()
    reviewer.get_by_role("link", name="已提交").click()
    reviewer.get_by_role("link", name="企业登记信息").click()
    reviewer.wait_for_url(f"{base}/portal/shares/{TABLE}")
    assert reviewer.get_by_role("button", name="发布").count() == 0  # not the reviewer's step
    reviewer.get_by_label("理由 (审核通过)").fill("分类分级正确")
    reviewer.get_by_role("button", name="审核通过").click()
    reviewer.wait_for_url(f"{base}/portal/shares/{TABLE}")
    assert "已审核" in reviewer.locator("#share-state").inner_text()

    browser_sign_in(steward, base, "steward_mr")
    steward.goto(f"{base}/portal/shares?state=reviewed")
    steward.get_by_role("link", name="企业登记信息").click()
    steward.get_by_label("理由 (发布)").fill("同意上线")
    steward.get_by_role("button", name="发布").click()
    steward.wait_for_url(f"{base}/portal/shares/{TABLE}")
    assert "已发布" in steward.locator("#share-state").inner_text()

    reviewer.reload()
    assert "已发布" in reviewer.locator("#share-state").inner_text()
    history = reviewer.locator("main table").first
    assert history.get_by_role("cell", name="分类分级正确").is_visible()
    assert history.get_by_role("cell", name="同意上线").is_visible()
    assert portal_world.shares.show(TABLE)["state"] == "published"


def test_new_pages_have_no_serious_accessibility_violations(new_page: Any, live_portal: str,
                                                            portal_world: Any) -> None:
    reviewer_and_draft_share(portal_world)
    portal_world.shares.submit(TABLE, "ready for review")
    topic = portal_world.topics.start("question", "数据更新", "何时更新？")
    portal_world.as_user("reviewer1").topics.reply(topic.id, "本周")
    asset_id = portal_world.catalog.asset("mr_db.main.t_qy_jbxx").id
    page = new_page()
    browser_sign_in(page, live_portal, "steward_mr")
    found: dict[str, list[str]] = {}
    for path in ("/portal/shares", f"/portal/shares/{TABLE}", "/portal/shares/stats", "/portal/topics",
                 f"/portal/topics/{topic.id}", "/portal/notifications", f"/portal/asset/{asset_id}/links"):
        page.goto(live_portal + path)
        found[path] = axe_serious(page)
    assert {p: v for p, v in found.items() if v} == {}
