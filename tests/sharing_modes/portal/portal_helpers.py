"""Shared by the portal tests: the world's names, the CSRF token of a page, signing in (through the
test client and in the real browser), the axe scan."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district", "fddbr_sfzh": "legal_rep_id",
                           "zczb": "capital", "clrq": "founded"},
                  only=["tyshxydm", "qymc", "qx", "fddbr_sfzh", "zczb", "clrq", "xzqh"])
TABLE = "market.enterprise"
ASSET = "mr_db.main.t_qy_jbxx"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def sign_in(c: Any, name: str, password: str = PASSWORD) -> Any:
    token = csrf_of(c.get("/portal/login").text)
    return c.post("/portal/login", data={"csrf_token": token, "name": name, "password": password})


XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>'


def signed_in(c: Any, name: str) -> Any:
    """The test client, its cookies cleared and signed in as ``name``."""
    c.cookies.clear()
    assert sign_in(c, name).status_code == 303
    return c


def post_form(c: Any, page: str, action: str, **data: str) -> Any:
    """Post ``data`` to ``action`` with the CSRF token of ``page``."""
    return c.post(action, data={"csrf_token": csrf_of(c.get(page).text), **data})


# -- in the real browser (the fixtures are in conftest.py) -----------------------------------------

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def browser_sign_in(page: Any, base: str, name: str) -> None:
    """Sign in through the login form; the page lands on the portal, signed in as ``name``."""
    page.goto(f"{base}/portal/login")
    page.get_by_label("名称").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/portal")
    assert page.get_by_role("button", name=f"退出 ({name})").is_visible()


def axe_serious(page: Any) -> list[str]:
    """The page's serious and critical axe violations (axe evaluated by the driver, not the page)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def reviewer_and_draft_share(world: Any, title: str = "企业登记信息") -> None:
    """A 共享主管部门 reviewer who can sign in (reviewer1) and a draft share of the enterprise register."""
    from govfabric.auth import passwords

    world.admin.add_principal("reviewer1", ["reviewer"], department="北京市政务服务和数据管理局")
    passwords.set_password(world.admin, "reviewer1", PASSWORD)
    world.shares.create("table", TABLE, title=title, reason="offer it")
