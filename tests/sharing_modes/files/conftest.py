"""A demo workspace with ``market.enterprise`` offered as a dataset and ``analyst1`` granted it with
the legal representative's ID number masked and the district of Chaoyang only."""

from __future__ import annotations

import pytest

MASKED = "fddbr_sfzh"


@pytest.fixture
def offered(demo):
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx",
                              renames={"tyshxydm": "uscc", "qymc": "name", "zczb": "capital", "clrq": "founded",
                                       "qx": "district"},
                              only=["tyshxydm", "qymc", "fddbr_sfzh", "zczb", "clrq", "qx", "gxsj"])
    demo.access.set_mask("market.enterprise", MASKED, "resident_id")
    demo.datasets.publish("market.enterprise", ["csv", "xlsx", "parquet", "json", "ndjson"],
                          title="企业基本信息")
    return demo


@pytest.fixture
def consumer(offered):
    """analyst1 with a grant: the ID number masked (no ``unmasked``)."""
    g = offered.access.grant("analyst1", "market.enterprise")
    f = offered.as_user("analyst1")
    f.grant_id = g.id  # type: ignore[attr-defined]
    return f
