"""Scan → classify → mask by default → grants see raw; consent records. Both store backends."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from test_security_detect import ids, luhn_cards, wrong_check

from govfabric.errors import AccessDenied, NotFound, SourceError, ValidationFailed
from govfabric.governance.security.models import ColumnClassification, ConsentRecord
from govfabric.governance.security.service import SecurityService, physical_of

N = 300


def plant(path: Path) -> list[str]:
    """A table whose columns say nothing about what they hold."""
    people = ids(N, seed=7)
    cards = luhn_cards(N)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t_x (c1 TEXT, c7 TEXT, c8 TEXT, c9 TEXT, c10 TEXT, amount REAL, sfzh TEXT)")
    con.executemany("INSERT INTO t_x VALUES (?,?,?,?,?,?,?)", [
        (f"R{i:05d}", people[i], wrong_check(people[i]), cards[i], f"1380013{i:04d}", i * 1.5, None)
        for i in range(N)])
    con.commit()
    con.close()
    return people


@pytest.fixture
def planted(steward, tmp_path):
    people = plant(tmp_path / "x.db")
    steward.catalog.add_source("x", f"sqlite:///{tmp_path / 'x.db'}")
    steward.settings.pii_scan_on_harvest = False  # these tests drive the scans themselves
    steward.catalog.harvest("x")
    return steward, people


def test_scan_classifies_by_values_and_persists(planted) -> None:
    steward, _ = planted
    sec = SecurityService(steward)
    rows = {r.column_name: r for r in sec.scan("x.main.t_x", sample=200)}
    assert rows["c7"].pii_class == "resident_id" and rows["c7"].personal_level == "sensitive"
    assert rows["c7"].evidence.startswith("200/200 sampled values are valid") and rows["c7"].sampled == 200
    assert rows["c8"].pii_class is None  # wrong check digits
    assert rows["c9"].pii_class == "bank_card"
    assert rows["c10"].pii_class == "mobile"
    assert rows["c1"].pii_class is None and rows["amount"].pii_class is None
    # all NULL but named sfzh: classified on the name alone, with low confidence
    assert rows["sfzh"].pii_class == "resident_id" and rows["sfzh"].method == "name"
    assert rows["sfzh"].confidence < rows["c7"].confidence
    listed = sec.classifications("x.main.t_x", pii_only=True)
    assert {r.column_name for r in listed} == {"c7", "c9", "c10", "sfzh"}
    ev = steward.audit.events(action="security.scan")
    assert ev and ev[-1].details["classified"]["c7"] == "resident_id"


def test_steward_confirms_and_rescans_keep_it(planted) -> None:
    steward, _ = planted
    sec = SecurityService(steward)
    sec.scan("x.main.t_x", sample=50)
    row = sec.confirm("x.main.t_x.c8", "resident_id", note="IDs with typos are still IDs")
    assert row.status == "confirmed" and row.pii_class == "resident_id" and row.confirmed_by == "steward1"
    sec.confirm("x.main.t_x.sfzh", "none")
    again = {r.column_name: r for r in sec.scan("x.main.t_x", sample=50)}
    assert again["c8"].pii_class == "resident_id" and again["c8"].status == "confirmed"
    assert again["sfzh"].pii_class is None
    core = sec.confirm("x.main.t_x.c7", "resident_id", data_level="core")
    assert core.data_level == "core"
    assert [e.details["pii_class"] for e in steward.audit.events(action="security.confirm")] == \
        ["resident_id", None, "resident_id"]


def test_bad_input_changes_nothing(planted) -> None:
    steward, _ = planted
    sec = SecurityService(steward)
    with pytest.raises(ValidationFailed, match="unknown PII class"):
        sec.confirm("x.main.t_x.c7", "ssn")
    with pytest.raises(NotFound, match="has no column 'nope'"):
        sec.confirm("x.main.t_x.nope", "name")
    with pytest.raises(ValidationFailed, match="unknown data level"):
        sec.confirm("x.main.t_x.c7", "name", data_level="secret")
    with pytest.raises(ValidationFailed, match="ASSET.COLUMN"):
        sec.confirm("c7", "name")
    with pytest.raises(NotFound):
        sec.scan("no_such_asset")
    with pytest.raises(ValidationFailed, match="sample size"):
        sec.scan("x.main.t_x", sample=0)
    with steward.store.session() as s:
        assert s.scalar(select(ColumnClassification.id)) is None
    with pytest.raises(AccessDenied):
        SecurityService(steward.as_user("analyst1")).scan("x.main.t_x")
    Path(steward.catalog.source("x").uri.split(":///", 1)[1]).unlink()
    with pytest.raises(SourceError, match="does not exist"):
        sec.scan("x.main.t_x")
    with steward.store.session() as s:
        assert s.scalar(select(ColumnClassification.id)) is None


def test_virtual_columns_are_traced_to_physical_ones() -> None:
    assert physical_of({"name": "id_no", "physical": "c7"}) == "c7"
    assert physical_of({"name": "n", "expr": 'CAST("we""ird" AS VARCHAR)'}) == 'we"ird'
    assert physical_of({"name": "n", "expr": "1 + 1"}) is None


def test_default_masks_apply_to_virtual_tables_and_grants_unmask(planted) -> None:
    steward, people = planted
    steward.virtual.create_table("pub.people", "x.main.t_x", renames={"c7": "id_no"})
    sec = SecurityService(steward)
    sec.scan("x.main.t_x", sample=100)  # masks the VT over this asset
    masks = {m.column_name: m.rule for m in steward.access.masks("pub.people")}
    assert masks == {"id_no": "resident_id", "c9": "bank_card", "c10": "mobile", "sfzh": "resident_id"}
    again = sec.mask_defaults()
    assert again and {a.action for a in again} == {"kept"}
    assert {m.column_name: m.rule for m in steward.access.masks("pub.people")} == masks

    steward.settings.chain_record_grants = False  # grants on chain are the blockchain tests' business
    steward.access.grant("analyst1", "pub.people", columns=["c1", "id_no"])
    analyst = steward.as_user("analyst1")
    got = analyst.sql("SELECT id_no FROM pub.people ORDER BY c1 LIMIT 1").column(0).to_pylist()[0]
    assert got != people[0] and got.startswith(people[0][:6]) and got.endswith(people[0][-4:]) and "*" in got

    steward.access.grant("analyst1", "pub.people", columns=["c1", "id_no"], unmasked=["id_no"])
    raw = analyst.sql("SELECT id_no FROM pub.people ORDER BY c1 LIMIT 1").column(0).to_pylist()[0]
    assert raw == people[0]


def test_steward_of_another_department_is_skipped(planted, workspace) -> None:
    steward, _ = planted
    steward.virtual.create_table("pub.people", "x.main.t_x")
    SecurityService(steward).scan("x.main.t_x", sample=20, mask=False)
    workspace.add_principal("steward2", ["steward"], department="公安局")
    other = workspace.as_user("steward2")
    acts = SecurityService(other).mask_defaults("pub.people")
    assert acts and {a.action for a in acts} == {"skipped"}
    assert steward.access.masks("pub.people") == []


# -- consent ------------------------------------------------------------------------------------

def test_consent_give_check_withdraw(planted) -> None:
    steward, people = planted
    c = SecurityService(steward).consent
    subject = people[0]
    rec = c.give(subject, "企业开办表单预填", ["姓名", "户籍地址"], "bizsys_approval",
                 expires=date.today() + timedelta(days=30), channel="portal")
    ok = c.check(subject, "企业开办表单预填", ["户籍地址"], "bizsys_approval")
    assert ok.allowed and ok.consent_id == rec.id and ok.trace is not None
    ev = steward.audit.events(action="consent.check")[-1]
    assert ev.seq == ok.trace and ev.details["allowed"] is True
    assert not c.check(subject, "企业开办表单预填", ["户籍地址", "手机号码"], "bizsys_approval").allowed
    wider = c.check(subject, "企业开办表单预填", ["手机号码"], "bizsys_approval")
    assert wider.missing_scope == ["手机号码"]
    assert not c.check(subject, "另一个用途", ["姓名"], "bizsys_approval").allowed
    assert not c.check(subject, "企业开办表单预填", ["姓名"], "other_system").allowed
    assert not c.check(people[1], "企业开办表单预填", ["姓名"], "bizsys_approval").allowed
    assert [r.id for r in c.records(subject)] == [rec.id]

    withdrawn = c.withdraw(subject_id=subject, purpose="企业开办表单预填")
    assert [r.id for r in withdrawn] == [rec.id]
    no = c.check(subject, "企业开办表单预填", ["姓名"], "bizsys_approval")
    assert not no.allowed and "withdrawn" in no.reason
    with pytest.raises(NotFound):
        c.withdraw(rec.id)

    # never stored in plain text, and nothing in the audit log carries it either
    with steward.store.session() as s:
        dump = " ".join(str(r) for r in s.execute(text("SELECT * FROM gov_security_consents")).all())
        audit = " ".join(str(r) for r in s.execute(text("SELECT details FROM auth_audit_events")).all())
        hashes = list(s.scalars(select(ConsentRecord.subject_hash)))
    assert subject not in dump and subject not in audit and subject[:14] not in audit
    assert hashes == [c.subject_hash(subject)] and len(hashes[0]) == 64


def test_consent_bad_input(planted) -> None:
    steward, people = planted
    c = SecurityService(steward).consent
    with pytest.raises(ValidationFailed, match="wrong check character"):
        c.give(wrong_check(people[0]), "用途", ["姓名"], "bizsys")
    with pytest.raises(ValidationFailed, match="in the past"):
        c.give(people[0], "用途", ["姓名"], "bizsys", expires=date.today() - timedelta(days=1))
    with pytest.raises(ValidationFailed, match="scope"):
        c.give(people[0], "用途", [], "bizsys")
    with pytest.raises(ValidationFailed, match="purpose"):
        c.give(people[0], " ", ["姓名"], "bizsys")
    with pytest.raises(AccessDenied):
        SecurityService(steward.as_user("analyst1")).consent.give(people[0], "用途", ["姓名"], "bizsys")
    with steward.store.session() as s:
        assert s.scalar(select(ConsentRecord.id)) is None
    # an expired consent is refused with the reason
    rec = c.give(people[0], "用途", ["姓名"], "bizsys", expires=date.today())
    with steward.store.session() as s:
        s.get(ConsentRecord, rec.id).expires_at = rec.given_at - timedelta(seconds=1)
    d = c.check(people[0], "用途", ["姓名"], "bizsys")
    assert not d.allowed and "expired" in d.reason
