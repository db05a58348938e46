"""Business and technical metadata linked to assets; all-or-nothing links; global search; asset view."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from govfabric.errors import AccessDenied, NotFound, ValidationFailed
from govfabric.governance.metadata.models import Link
from govfabric.governance.metadata.service import MetadataService

ASSET = "mr_db.main.t_qy_jbxx"


def test_glossary_links_search_and_view(demo) -> None:
    md = MetadataService(demo)
    md.add_term("registered_capital", "Capital registered at incorporation", cn_name="注册资本",
                synonyms=["zczb"], steward="steward_mr")
    md.add_indicator("capital_by_district", "sum(zczb) group by qx", "在册企业，按登记机关所在区", unit="万元",
                     dimensions=["district"])
    md.add_rule("capital_positive", "Registered capital is positive", "zczb > 0")
    made = md.link(ASSET, terms=["注册资本"], rules=["capital_positive"], column="zczb")
    assert {m["kind"] for m in made} == {"term", "rule"}
    md.link(ASSET, indicators=["capital_by_district"])
    with pytest.raises(NotFound, match="unknown term 'nope'"):
        md.link(ASSET, terms=["registered_capital", "nope"], column="qx")
    with demo.store.session() as s:  # nothing of the refused link was written
        assert s.scalar(select(func.count()).select_from(Link).where(Link.column == "qx")) == 0
    with pytest.raises(ValidationFailed):
        md.link(ASSET, terms=["registered_capital"], column="no_such_column")
    res = md.search("注册资本")
    assert res["terms"][0]["name"] == "registered_capital" and res["terms"][0]["linked"] == [f"{ASSET}.zczb"]
    assert md.search("t_qy_jbxx")["assets"][0]["qualified_name"] == ASSET
    md.add_technical("interface", "enterprise-api", {"protocol": "https", "endpoint": "/api/enterprise"},
                     asset=ASSET)
    with pytest.raises(ValidationFailed, match="protocol"):
        md.add_technical("interface", "bad", {"protocol": "carrier-pigeon", "endpoint": "x"})
    with pytest.raises(ValidationFailed, match="unknown technical metadata type"):
        md.add_technical("poem", "x", {})
    demo.virtual.create_table("market.enterprise", ASSET, renames={"zczb": "capital"}, only=["zczb", "qx"])
    view = md.asset_view(ASSET)
    col = next(c for c in view["composition"] if c["name"] == "zczb")
    assert {m["name"] for m in col["metadata"]} == {"registered_capital", "capital_positive"}
    assert view["business"][0]["name"] == "capital_by_district"
    assert view["technical"][0]["name"] == "enterprise-api"
    assert view["structure"]["virtual_tables"] == ["market.enterprise"]


def test_writes_need_a_steward(demo) -> None:
    md = MetadataService(demo.as_user(next(p.name for p in demo.principals() if "analyst" in p.roles)))
    with pytest.raises(AccessDenied):
        md.add_term("x", "y")
