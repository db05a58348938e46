"""The portal's world: the demo workspace with a virtual table over the enterprise register (an
open-on-request asset), passwords for the analyst and the steward, and the real server app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from govfabric.auth import passwords

ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "qx": "district", "fddbr_sfzh": "legal_rep_id",
                           "zczb": "capital", "clrq": "founded"},
                  only=["tyshxydm", "qymc", "qx", "fddbr_sfzh", "zczb", "clrq", "xzqh"])
TABLE = "market.enterprise"
ASSET = "mr_db.main.t_qy_jbxx"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture
def portal_world(demo) -> Any:
    demo.virtual.create_table(TABLE, ASSET, **ENTERPRISE)
    demo.access.set_mask(TABLE, "legal_rep_id", "partial", {"first": 4, "last": 2})
    admin = demo.as_user("admin") if "admin" in {p.name for p in demo.principals()} else None
    admin = admin or next(demo.as_user(p.name) for p in demo.principals() if "admin" in p.roles)
    for name in ("analyst1", "steward_mr", "auditor1"):
        passwords.set_password(admin, name, PASSWORD)
    demo.admin = admin
    return demo


@pytest.fixture
def client(portal_world) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from govfabric.server.app import create_app

    with TestClient(create_app(portal_world.admin), follow_redirects=False) as c:
        c.world = portal_world
        yield c


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def sign_in(c: Any, name: str, password: str = PASSWORD) -> Any:
    token = csrf_of(c.get("/portal/login").text)
    return c.post("/portal/login", data={"csrf_token": token, "name": name, "password": password})
