"""The portal in a real Chromium: the analyst's journey (search in Chinese → detail → request →
the steward approves in the inbox → the workbench runs the query and downloads CSV), an anonymous
visitor browsing open data, XSS payloads staying inert, and a form posted without CSRF → 403.
Screenshots of failed tests are kept in test-results/portal/ (conftest)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from portal_helpers import ASSET, TABLE, axe_serious, browser_sign_in


def test_analyst_journey_through_steward_approval(new_page: Any, live_portal: str, portal_world: Any) -> None:
    base = live_portal
    analyst = new_page(accept_downloads=True)
    steward = new_page()
    asset_id = portal_world.catalog.asset(ASSET).id

    browser_sign_in(analyst, base, "analyst1")
    analyst.get_by_role("link", name="搜索", exact=True).first.click()
    analyst.get_by_label("搜索开放数据").fill("企业")
    analyst.get_by_label("搜索开放数据").press("Enter")
    analyst.wait_for_url("**/portal/search?q=*")
    assert analyst.locator("#results mark").first.inner_text() == "企业"  # highlighted
    analyst.locator(f'#results a[href="/portal/asset/{asset_id}"]').click()
    analyst.wait_for_url(f"**/portal/asset/{asset_id}")
    assert analyst.get_by_role("heading", name="数据字典").is_visible()
    assert analyst.get_by_text("您尚无此数据的访问权限").is_visible()
    analyst.get_by_label("用途").fill("企业信用分析")
    analyst.get_by_role("button", name="申请访问").click()
    analyst.wait_for_url(f"{base}/portal/me")
    assert analyst.get_by_role("cell", name="⏳ 待审批").is_visible()

    browser_sign_in(steward, base, "steward_mr")
    steward.get_by_role("link", name="审批待办").click()
    assert steward.get_by_role("heading", name=f"analyst1 → {TABLE}").count() == 1
    steward.get_by_label("理由").first.fill("用途正当")
    steward.get_by_role("button", name="✔ 批准").first.click()
    steward.wait_for_url(f"{base}/portal/inbox")
    assert steward.get_by_text("没有待审批的申请。").is_visible()

    analyst.reload()
    assert analyst.get_by_role("cell", name="✔ 已批准").is_visible()
    analyst.get_by_role("link", name="SQL 工作台").click()
    analyst.get_by_label("SQL 查询").fill(f"SELECT name, legal_rep_id FROM {TABLE} ORDER BY uscc LIMIT 3")
    analyst.get_by_role("button", name="运行").click()
    rows = analyst.locator("main table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    masked = analyst.locator("main table tbody tr td:nth-child(2)").first.inner_text()
    assert "*" in masked  # the mask holds for the analyst in the browser too
    with analyst.expect_download() as info:
        analyst.get_by_role("button", name="下载 CSV").click()
    got = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert got[0] == ["name", "legal_rep_id"] and len(got) == 4 and all("*" in r[1] for r in got[1:])


def test_visitor_browses_open_data_without_signing_in(page: Any, live_portal: str, portal_world: Any) -> None:
    page.goto(live_portal + "/")
    page.wait_for_url(f"{live_portal}/portal")
    assert page.get_by_role("heading", name="开放数据", exact=True).is_visible()
    assert page.get_by_role("link", name="登录").is_visible()
    page.get_by_label("主题").select_option("market_regulation")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**theme=market_regulation**")
    asset_id = portal_world.catalog.asset(ASSET).id
    page.locator(f'a[href="/portal/asset/{asset_id}"]').first.click()
    assert page.get_by_role("link", name="登录后申请访问").is_visible()
    assert page.locator("text=SQL 工作台").count() == 0
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("link", name="Sign in to request access").is_visible()


def test_xss_payloads_stay_inert(page: Any, live_portal: str, portal_world: Any) -> None:
    fired: list[str] = []
    page.on("dialog", lambda d: (fired.append(d.message), d.dismiss()))
    payload = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'
    portal_world.catalog.annotate(ASSET, description=f"企业 {payload}")
    asset_id = portal_world.catalog.asset(ASSET).id
    page.goto(f"{live_portal}/portal/asset/{asset_id}")
    assert payload in page.locator(".description").inner_text()  # shown as text
    page.goto(f"{live_portal}/portal/search?q=企业")  # the description comes back highlighted
    assert page.locator("#results img").count() == 0 and page.locator("#results script").count() == 0
    assert "<img src=x" in page.locator("#results").inner_text()  # as text, beside the <mark>s
    page.goto(f"{live_portal}/portal/search?q=" + payload.replace("#", ""))
    assert payload[:20] in page.get_by_label("搜索开放数据").input_value()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None and fired == []
    assert page.locator("img[src=x]").count() == 0


def test_form_posted_without_csrf_is_refused(page: Any, live_portal: str) -> None:
    browser_sign_in(page, live_portal, "analyst1")
    r = page.request.post(f"{live_portal}/portal/sql", form={"sql": f"SELECT * FROM {TABLE}"})
    assert r.status == 403
    ok = page.request.post(f"{live_portal}/portal/logout", form={"csrf_token": "f" * 64})
    assert ok.status == 403
    page.goto(f"{live_portal}/portal/me")
    assert page.url.endswith("/portal/me")  # still signed in: the forged logout did nothing


def test_main_pages_have_no_serious_accessibility_violations(new_page: Any, live_portal: str,
                                                              portal_world: Any) -> None:
    page = new_page()
    asset_id = portal_world.catalog.asset(ASSET).id
    found: dict[str, list[str]] = {}
    for path in ("/portal", "/portal/search?q=企业", f"/portal/asset/{asset_id}", "/portal/login"):
        page.goto(live_portal + path)
        found[path] = axe_serious(page)
    browser_sign_in(page, live_portal, "steward_mr")
    for path in ("/portal/me", "/portal/sql", "/portal/inbox"):
        page.goto(live_portal + path)
        found[path] = axe_serious(page)
    assert {p: v for p, v in found.items() if v} == {}
    page.set_content('<html lang="en"><body><main><input type="text"></main></body></html>')  # the scan sees
    assert any(v.startswith("label ") for v in axe_serious(page))  # an unlabelled field
