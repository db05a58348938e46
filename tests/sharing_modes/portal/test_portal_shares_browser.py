"""The sharing process in a real Chromium: a 共享主管部门 reviewer reviews a submitted share, the
department's steward publishes it, and the share's page then shows it published with both reasons.
Screenshots of failures are kept in test-results/portal/ (conftest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from portal_helpers import PASSWORD, TABLE

pytestmark = pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                                reason="needs Debian chromium: bash scripts/services/chromium-install.sh")


def _sign_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/portal/login")
    page.get_by_label("名称").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/portal")


def test_reviewer_reviews_and_steward_publishes(browser: Any, live_portal: str, portal_world: Any,
                                                request: pytest.FixtureRequest) -> None:
    from govfabric.auth import passwords

    portal_world.admin.add_principal("reviewer1", ["reviewer"], department="北京市政务服务和数据管理局")
    passwords.set_password(portal_world.admin, "reviewer1", PASSWORD)
    portal_world.shares.create("table", TABLE, title="企业登记信息", reason="offer it")
    portal_world.shares.submit(TABLE, "ready for review")
    base = live_portal
    reviewer = browser.new_context().new_page()
    steward = browser.new_context().new_page()
    request.node.portal_pages = [reviewer, steward]

    _sign_in(reviewer, base, "reviewer1")
    reviewer.get_by_role("link", name="共享目录").click()
    reviewer.get_by_role("link", name="已提交").click()
    reviewer.get_by_role("link", name="企业登记信息").click()
    reviewer.wait_for_url(f"{base}/portal/shares/{TABLE}")
    assert reviewer.get_by_role("button", name="发布").count() == 0  # not the reviewer's step
    reviewer.get_by_label("理由 (审核通过)").fill("分类分级正确")
    reviewer.get_by_role("button", name="审核通过").click()
    reviewer.wait_for_url(f"{base}/portal/shares/{TABLE}")
    assert "已审核" in reviewer.locator("#share-state").inner_text()

    _sign_in(steward, base, "steward_mr")
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


def test_new_pages_have_no_serious_accessibility_violations(browser: Any, live_portal: str, portal_world: Any,
                                                            request: pytest.FixtureRequest) -> None:
    from test_portal_browser import _axe_serious

    from govfabric.auth import passwords

    portal_world.admin.add_principal("reviewer1", ["reviewer"], department="北京市政务服务和数据管理局")
    passwords.set_password(portal_world.admin, "reviewer1", PASSWORD)
    portal_world.shares.create("table", TABLE, title="企业登记信息", reason="offer it")
    portal_world.shares.submit(TABLE, "ready for review")
    topic = portal_world.topics.start("question", "数据更新", "何时更新？")
    portal_world.as_user("reviewer1").topics.reply(topic.id, "本周")
    asset_id = portal_world.catalog.asset("mr_db.main.t_qy_jbxx").id
    page = browser.new_context().new_page()
    request.node.portal_pages = [page]
    _sign_in(page, live_portal, "steward_mr")
    found: dict[str, list[str]] = {}
    for path in ("/portal/shares", f"/portal/shares/{TABLE}", "/portal/shares/stats", "/portal/topics",
                 f"/portal/topics/{topic.id}", "/portal/notifications", f"/portal/asset/{asset_id}/links"):
        page.goto(live_portal + path)
        found[path] = _axe_serious(page)
    assert {p: v for p, v in found.items() if v} == {}
