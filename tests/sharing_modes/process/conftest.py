"""The demo workspace with virtual tables over three market-regulation assets of different classes:
``market.enterprise`` (无条件共享, 有条件开放), ``market.licence`` (无条件共享, 无条件开放) and
``market.cases`` (有条件共享, 不予开放); a reviewer (共享主管部门) and a steward of another department."""

from __future__ import annotations

import pytest


@pytest.fixture
def world(demo):
    admin = demo.as_user("admin")
    admin.add_principal("reviewer1", ["reviewer"], department="北京市政务服务和数据管理局")
    admin.add_principal("reviewer2", ["reviewer"], department="北京市政务服务和数据管理局")
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", only=["tyshxydm", "qymc", "qx"])
    demo.virtual.create_table("market.licence", "mr_db.main.t_yyzz")
    demo.virtual.create_table("market.cases", "mr_db.main.t_jcaj")
    return demo


@pytest.fixture
def walk():
    """Take a draft share through submit → review → publish (as far as ``to``)."""
    return _walk


def _walk(world, name: str, to: str = "published") -> None:
    """Take a draft share through submit → review → publish (as far as ``to``)."""
    world.shares.submit(name, "ready for review")
    if to == "submitted":
        return
    world.as_user("reviewer1").shares.review(name, "checked the classification")
    if to == "reviewed":
        return
    world.shares.publish(name, "go live")
