"""A demo workspace with the two virtual tables the prefill items read, a service principal
holding grants on them, and an applicant (an enterprise and its legal representative)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

ENTERPRISE = dict(renames={"tyshxydm": "uscc", "qymc": "name", "fddbr_sfzh": "legal_rep_id", "djzt": "status",
                           "zczb": "capital", "clrq": "founded", "zs": "address", "lxdh": "phone"},
                  only=["tyshxydm", "qymc", "fddbr_sfzh", "djzt", "zczb", "clrq", "zs", "lxdh"])
PERSON = dict(renames={"gmsfhm": "id_number", "xm": "name", "sjhm": "phone", "hjdz": "address", "csrq": "born"},
              only=["gmsfhm", "xm", "sjhm", "hjdz", "csrq"])
SERVICE = "prefill_svc"


def item_doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "open_business", "title": "开办企业", "purpose": "开办企业", "principal": SERVICE,
        "applicant": "enterprise",
        "fields": [
            {"name": "heading", "label": "企业信息", "component": "title"},
            {"name": "ent_name", "label": "企业名称", "component": "text", "required": True, "shared": True,
             "department": "市场监管局", "editable": False,
             "source": {"table": "market.enterprise", "column": "name", "key": "uscc"}},
            {"name": "status", "label": "登记状态", "component": "text", "shared": True, "department": "市场监管局",
             "source": {"table": "market.enterprise", "column": "status", "key": "uscc"}},
            {"name": "capital", "label": "注册资本", "component": "number", "shared": True,
             "department": "市场监管局", "source": {"table": "market.enterprise", "column": "capital", "key": "uscc"}},
            {"name": "rep_id", "label": "法定代表人身份证号", "component": "text", "shared": True, "mask": "id_number",
             "department": "市场监管局",
             "source": {"table": "market.enterprise", "column": "legal_rep_id", "key": "uscc"}},
            {"name": "rep_name", "label": "法定代表人姓名", "component": "text", "shared": True, "mask": "name",
             "department": "公安局",
             "source": {"table": "ps.person", "column": "name", "key": "id_number", "key_field": "rep_id"}},
            {"name": "rep_phone", "label": "法定代表人手机", "component": "text", "shared": True,
             "department": "公安局",
             "source": {"table": "ps.person", "column": "phone", "key": "id_number", "key_field": "rep_id"}},
            {"name": "contact", "label": "联系人", "component": "text", "required": True},
        ],
        "materials": [
            {"name": "licence", "label": "营业执照", "channel": "government", "department": "市场监管局",
             "licence_type": "11100000000000001"},
            {"name": "articles", "label": "公司章程", "channel": "applicant", "type": "self_made"},
            {"name": "premises", "label": "住所证明", "channel": "applicant", "type": "copy", "deferrable_days": 5},
        ],
        "eligibility": [{"rule": "status in ['存续', '在业']", "reason": "企业须为存续状态"}],
        "scenarios": [{"name": "change", "label": "变更", "materials": ["licence", "premises"]},
                      {"name": "new", "label": "新设", "materials": ["licence", "articles", "premises"]}],
    }
    doc.update(over)
    return doc


@dataclass
class World:
    steward: Any  # steward_mr
    service: Any  # the service principal's façade
    uscc: str
    rep_id: str
    row: dict[str, Any]


@pytest.fixture
def world(demo: Any) -> World:
    admin = demo.as_user("admin")
    admin.add_principal(SERVICE, ["business_system"], department="北京市政务服务管理局")
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.access.grant(SERVICE, "market.enterprise", unmasked=["legal_rep_id"])
    ps = demo.as_user("steward_ps")
    ps.virtual.create_table("ps.person", "ps_db.main.t_rk_jbxx", **PERSON)
    ps.access.grant(SERVICE, "ps.person", unmasked=["id_number"])  # the lookup key: unmasked
    people = {r["id_number"]: r for r in ps.sql("SELECT id_number, name, phone FROM ps.person "
                                                   "WHERE phone IS NOT NULL").to_pylist()}
    ents = demo.sql("SELECT uscc, name, status, capital, legal_rep_id FROM market.enterprise ORDER BY uscc").to_pylist()
    row = next(e for e in ents if e["legal_rep_id"] in people)
    row.update(rep_name=people[row["legal_rep_id"]]["name"], phone=people[row["legal_rep_id"]]["phone"])
    return World(demo, demo.as_user(SERVICE), row["uscc"], row["legal_rep_id"], row)


def consent(w: World, scope: list[str] | None = None, uscc: str | None = None) -> None:
    from govfabric.prefill.spec import check_structure

    spec, problems = check_structure(item_doc())
    assert spec is not None and not problems
    w.steward.security.consent.give(uscc or w.uscc, "开办企业", scope or spec.consent_scope(), SERVICE)
