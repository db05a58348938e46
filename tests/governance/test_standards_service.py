"""Data elements, naming rules, suggested and confirmed mappings, conformance checks. Both stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_security_detect import ids, wrong_check

from govfabric.errors import AccessDenied, AlreadyExists, NotFound, ValidationFailed
from govfabric.governance.standards.elements import conforms, parse_code_list
from govfabric.governance.standards.models import ConformanceCheck, DataElement
from govfabric.governance.standards.service import StandardsService


def plant(path: Path) -> None:
    people = ids(40, seed=11)
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE t_person (sfzh TEXT, xb TEXT, xzqh TEXT, csrq DATE, "Date" TEXT, remark TEXT)')
    rows = []
    for i, p in enumerate(people):
        sfzh = wrong_check(p) if i < 4 else p  # 4 of 40 bad check digits
        xb = "3" if i < 2 else "12"[i % 2]  # 2 of 40 outside GB/T 2261.1
        xzqh = "990101" if i == 0 else "110105"  # one with no province
        rows.append((sfzh, xb, xzqh, f"19{60 + i % 40}-01-0{1 + i % 9}", "x", "备注"))
    con.executemany("INSERT INTO t_person VALUES (?,?,?,?,?,?)", rows)
    con.execute("CREATE TABLE PersonInfo (a TEXT)")
    con.commit()
    con.close()


@pytest.fixture
def std(steward, tmp_path):
    plant(tmp_path / "p.db")
    steward.catalog.add_source("p", f"sqlite:///{tmp_path / 'p.db'}")
    steward.catalog.harvest("p")
    return StandardsService(steward)


def test_defaults_are_seeded_once(std) -> None:
    els = {e.identifier: e for e in std.elements()}
    assert {"sex_code", "sex_text", "division_code", "resident_id", "uscc", "mobile", "date", "ethnicity_code",
            "ethnicity_name"} <= set(els)
    assert els["sex_code"].code_list == {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
    assert els["ethnicity_code"].code_list["01"] == "汉族" and els["ethnicity_code"].code_list["56"] == "基诺族"
    std.elements()
    with std.store.session() as s:
        assert s.scalar(select(func.count()).select_from(DataElement)) == len(els)
    assert {r.name for r in std.rules()} >= {"table-snake-case", "column-snake-case", "column-reserved-words"}
    assert conforms(els["sex_code"], 1) and not conforms(els["sex_code"], "3")
    assert conforms(els["division_code"], "110105") and not conforms(els["division_code"], "990101")
    assert conforms(els["resident_id"], ids(1)[0]) and not conforms(els["resident_id"], wrong_check(ids(1)[0]))


def test_suggest_then_confirm_then_check(std) -> None:
    sug = {s.column: s for s in std.suggest("p.main.t_person", sample=100)}
    assert sug["sfzh"].element == "resident_id" and sug["xzqh"].element == "division_code"
    assert sug["csrq"].element == "date" and sug["remark"].element is None
    assert sug["xb"].element in ("sex_code", "sex_text")
    std.map("p.main.t_person.xb", "sex_code")
    # a new suggestion never replaces the steward's mapping
    std.suggest("p.main.t_person", sample=100)
    maps = {m.column_name: (m.element, m.status) for m in std.mappings("p.main.t_person")}
    assert maps["xb"] == ("sex_code", "confirmed") and maps["sfzh"] == ("resident_id", "suggested")

    report = std.check("p.main.t_person", sample=100)
    by = {(v.kind, v.target, v.rule): v for v in report.violations}
    assert by[("value", "sfzh", "resident_id")].count == 4
    assert by[("value", "xb", "sex_code")].count == 2
    assert by[("value", "xzqh", "division_code")].count == 1
    assert ("naming", "Date", "column-snake-case") in by
    assert ("naming", "t_person", "table-prefix") not in by
    assert 0 < report.score < 100 and report.sampled == 40
    hist = std.history("p.main.t_person")
    assert len(hist) == 1 and hist[0].score == report.score
    assert std.fabric.audit.events(action="standards.check")[-1].details["score"] == report.score

    other = std.check("p.main.PersonInfo", sample=10)
    assert {v.rule for v in other.violations} >= {"table-snake-case", "table-prefix"}


def test_custom_elements_and_rules(std) -> None:
    std.add_element("marital_status", name="marital status", cn_name="婚姻状况", data_type="code",
                    format=r"\d{2}", code_list=parse_code_list("10=未婚,20=已婚,30=丧偶,40=离婚"),
                    keywords=["hyzk"], standard="GB/T 2261.2-2003")
    assert std.element("marital_status").code_list["20"] == "已婚"
    with pytest.raises(AlreadyExists):
        std.add_element("marital_status", name="x", cn_name="x", data_type="code")
    std.add_element("marital_status", name="m", cn_name="婚姻", data_type="string", replace=True)
    assert std.element("marital_status").code_list == {}
    std.add_rule("column-no-remark", "column", "forbidden_words", words=["remark"], description="用 bz")
    report = std.check("p.main.t_person", sample=20)
    assert any(v.rule == "column-no-remark" and v.target == "remark" for v in report.violations)


def test_malformed_definitions_change_nothing(std) -> None:
    before = len(std.elements())
    bad = [
        (dict(identifier="Bad Id", name="n", cn_name="n", data_type="string"), "identifier"),
        (dict(identifier="x1", name="n", cn_name="n", data_type="varchar"), "data type"),
        (dict(identifier="x2", name="n", cn_name="n", data_type="string", format="[0-9"), "not a valid regular"),
        (dict(identifier="x3", name="n", cn_name="", data_type="string"), "cn_name is required"),
        (dict(identifier="x4", name="n", cn_name="n", data_type="code", format=r"\d", code_list={"10": "ten"}),
         "do not match its own format"),
        (dict(identifier="x5", name="n", cn_name="n", data_type="string", validator="luhn"), "unknown validator"),
    ]
    for kw, msg in bad:
        ident = kw.pop("identifier")
        with pytest.raises(ValidationFailed, match=msg):
            std.add_element(ident, **kw)
    with pytest.raises(ValidationFailed, match="CODE=MEANING"):
        parse_code_list("1=男,2")
    with pytest.raises(ValidationFailed, match="needs --pattern"):
        std.add_rule("r1", "column", "pattern")
    with pytest.raises(ValidationFailed, match="applies_to"):
        std.add_rule("r2", "schema", "pattern", pattern="x")
    with pytest.raises(ValidationFailed, match="not a valid regular"):
        std.add_rule("r3", "table", "pattern", pattern="(")
    with pytest.raises(NotFound, match="no data element 'nope'"):
        std.map("p.main.t_person.xb", "nope")
    with pytest.raises(NotFound, match="has no column 'nope'"):
        std.map("p.main.t_person.nope", "sex_code")
    assert len(std.elements()) == before and std.mappings() == []
    with std.store.session() as s:
        assert s.scalar(select(func.count()).select_from(ConformanceCheck)) == 0
    with pytest.raises(AccessDenied):
        StandardsService(std.fabric.as_user("analyst1")).add_element("y1", name="n", cn_name="n", data_type="string")
