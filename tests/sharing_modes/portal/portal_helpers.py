"""Shared by the portal tests: the world's names, the CSRF token of a page, signing in."""

from __future__ import annotations

import re
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
