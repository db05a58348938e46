"""The e-licence library: imports (XML, GB18030 CSV), all-or-nothing refusals, verification,
revocation, access and audited reads."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from govfabric.auth.models import AuditEvent
from govfabric.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from govfabric.identifiers import generate_resident_id, generate_uscc
from govfabric.prefill.licences.identifier import make_identifier
from govfabric.prefill.licences.models import Licence

RNG = random.Random(7)
AUTHORITY = generate_uscc(RNG, "110105", authority="1", entity_type="1", org_code="00000077")
FIRM = generate_uscc(RNG, "110105")
PERSON = generate_resident_id(RNG, "110105", date(1990, 5, 17), "F")
TODAY = date.today()


def record(n: int, holder: str = FIRM, **over: str) -> dict[str, str]:
    rec = {
        "identifier": make_identifier("11100000000000001", AUTHORITY, f"{n:08d}"),
        "number": f"ZZ{n:06d}", "type_code": "11100000000000001", "type_name": "营业执照",
        "holder_name": "北京示例科技有限公司", "holder_id": holder, "authority": "北京市朝阳区市场监督管理局",
        "authority_code": AUTHORITY, "issued_on": (TODAY - timedelta(days=400)).isoformat(),
        "valid_from": (TODAY - timedelta(days=400)).isoformat(), "valid_until": "", "status": "有效",
        "file": f"lic{n}.pdf",
    }
    rec.update(over)
    return rec


def write_xml(path: Path, records: list[dict[str, str]]) -> Path:
    body = "".join("<licence>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in r.items()) + "</licence>"
                   for r in records)
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><licences>{body}</licences>', encoding="utf-8")
    return path


def write_csv(path: Path, records: list[dict[str, str]], encoding: str = "gb18030") -> Path:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["证照标识", "证照编号", "证照类型代码", "证照名称", "持证主体", "持证主体代码", "颁发机构",
                "颁发机构代码", "颁发日期", "有效期起始", "有效期截止", "证照状态", "文件"])
    for r in records:
        w.writerow([r[k] for k in ("identifier", "number", "type_code", "type_name", "holder_name", "holder_id",
                                   "authority", "authority_code", "issued_on", "valid_from", "valid_until",
                                   "status", "file")])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "licence_files"
    d.mkdir()
    for n in range(1, 6):
        (d / f"lic{n}.pdf").write_bytes(f"%PDF-1.7 licence {n}\n".encode())
    return d


@pytest.fixture
def service(workspace):
    """A reader of every licence (an auditor); the prefill service's own reads need the applicant's
    consent for an item (tests/prefill/licences/test_licence_access.py)."""
    workspace.add_principal("licence_reader", ["auditor"])
    return workspace.as_user("licence_reader")


def _count(fabric) -> int:
    with fabric.store.session() as s:
        return s.scalar(select(func.count()).select_from(Licence))


def test_xml_import_stores_files_with_digests_and_reads_by_holder(steward, service, files, tmp_path) -> None:
    import hashlib

    src = write_xml(tmp_path / "lic.xml", [record(1), record(2, holder=PERSON, holder_name="张三",
                                                             type_name="社会保障卡")])
    result = steward.licences.import_file(src, files=files)
    assert (result.imported, result.files) == (2, 2)
    [view] = service.licences.for_holder(FIRM)
    data = (files / "lic1.pdf").read_bytes()
    assert view.sha256 == hashlib.sha256(data).hexdigest()
    assert view.sm3 == hashlib.new("sm3", data).hexdigest()
    assert (view.status, view.valid_until, view.file_name) == ("valid", None, "lic1.pdf")
    stored = steward.licences.root / f"{view.id}.pdf"
    assert stored.read_bytes() == data and stored.stat().st_mode & 0o777 == 0o640
    assert service.licences.get(view.identifier) == view
    assert service.licences.verify(view.id).ok


def test_import_with_documents_in_memory(steward, service, tmp_path) -> None:
    """The demo's path: files given by name in memory (no folder) are stored as from a folder, and a
    row naming a document that is not given is a problem like a missing file."""
    import hashlib

    from govfabric.prefill.licences import importers

    rows = importers.read_rows(write_xml(tmp_path / "m.xml", [record(1), record(2, file="lic2.ofd")]))
    docs = {"lic1.pdf": b"%PDF-1.7 in memory 1\n", "lic2.ofd": b"OFD 2\n"}
    with pytest.raises(ValidationFailed, match="nothing imported") as info:
        steward.licences.import_rows(rows, documents={"lic1.pdf": docs["lic1.pdf"]})
    assert any(p.startswith("licence 2:") and "lic2.ofd" in p for p in info.value.problems)
    assert _count(steward) == 0
    result = steward.licences.import_rows(rows, documents=docs, source="m.xml")
    assert (result.imported, result.files) == (2, 2)
    for lid in result.ids:
        view = service.licences.get(lid)
        data = docs[view.file_name]
        stored = steward.licences.root / f"{view.id}{Path(view.file_name).suffix}"
        assert stored.read_bytes() == data and stored.stat().st_mode & 0o777 == 0o640
        assert (view.sha256, view.sm3) == (hashlib.sha256(data).hexdigest(), hashlib.new("sm3", data).hexdigest())
        assert service.licences.verify(lid).ok


def test_gb18030_csv_import(steward, service, files, tmp_path) -> None:
    src = write_csv(tmp_path / "lic.csv", [record(3, holder_name="北京𠀀示例有限公司")])
    assert steward.licences.import_file(src, files=files).imported == 1
    [view] = service.licences.for_holder(FIRM)
    assert view.holder_name == "北京𠀀示例有限公司" and view.type_name == "营业执照"


def test_bad_rows_are_all_listed_and_nothing_is_written(steward, files, tmp_path) -> None:
    good = record(1)
    bad_check = record(2)
    bad_check["identifier"] = bad_check["identifier"][:-1] + ("0" if bad_check["identifier"][-1] != "0" else "1")
    bad_holder = record(3, holder=FIRM[:-1] + ("0" if FIRM[-1] != "0" else "1"))
    bad_dates = record(4, valid_from="2024-05-01", valid_until="2023-01-01")
    no_file = record(5, file="nowhere.pdf")
    src = write_xml(tmp_path / "bad.xml", [good, bad_check, bad_holder, bad_dates, no_file, record(1)])
    with pytest.raises(ValidationFailed, match="nothing imported") as info:
        steward.licences.import_file(src, files=files)
    problems = info.value.problems
    assert any(p.startswith("licence 2:") and "wrong check character" in p for p in problems)
    assert any(p.startswith("licence 3:") and "credit code" in p for p in problems)
    assert any(p.startswith("licence 4:") and "before valid_from" in p for p in problems)
    assert any(p.startswith("licence 5:") and "nowhere.pdf" in p for p in problems)
    assert any(p.startswith("licence 6:") and "also on licence 1" in p for p in problems)
    assert _count(steward) == 0
    assert not steward.licences.root.exists() or not any(steward.licences.root.iterdir())


def test_reimport_of_a_known_licence_is_refused(steward, files, tmp_path) -> None:
    steward.licences.import_file(write_xml(tmp_path / "a.xml", [record(1)]), files=files)
    with pytest.raises(ValidationFailed, match="already in the library"):
        steward.licences.import_file(write_xml(tmp_path / "b.xml", [record(2), record(1)]), files=files)
    assert _count(steward) == 1


def test_xml_bombs_are_refused(steward, tmp_path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><licences><licence><number>&b;</number>'
                    "</licence></licences>")
    with pytest.raises(ValidationFailed, match="refused"):
        steward.licences.import_file(bomb)


def _import(steward, files, tmp_path, *records) -> list[str]:
    return steward.licences.import_file(write_xml(tmp_path / "v.xml", list(records)), files=files).ids


def test_verify_catches_a_tampered_file(steward, service, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    stored = next(steward.licences.root.glob(f"{lid}*"))
    stored.write_bytes(b"%PDF-1.7 forged\n")
    v = service.licences.verify(lid)
    assert not v.ok and any("SHA-256 digest does not match" in r for r in v.reasons)
    assert any("SM3" in r for r in v.reasons)


def test_verify_revoked_and_expired(steward, service, files, tmp_path) -> None:
    old = (TODAY - timedelta(days=3000)).isoformat()
    a, b = _import(steward, files, tmp_path, record(1),
                   record(2, issued_on=old, valid_from=old, valid_until=(TODAY - timedelta(days=1)).isoformat()))
    steward.licences.revoke(a, "吊销营业执照：虚假登记")
    v = service.licences.verify(a)
    assert not v.ok and v.reasons == ["the licence is revoked (吊销营业执照：虚假登记)"]
    assert service.licences.get(a).status == "revoked"
    e = service.licences.verify(b)
    assert not e.ok and e.reasons == [f"the licence expired on {(TODAY - timedelta(days=1)).isoformat()}"]
    assert service.licences.verify(b, on=TODAY - timedelta(days=2)).ok


def test_verify_catches_a_bad_identifier_check_character_in_the_library(steward, service, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    with steward.store.session() as s:  # a record damaged after import (or written by another system)
        row = s.get(Licence, lid)
        row.identifier = row.identifier[:-1] + ("0" if row.identifier[-1] != "0" else "1")
    v = service.licences.verify(lid)
    assert not v.ok and any("wrong check character" in r for r in v.reasons)


def test_licence_without_file_does_not_verify(steward, service, tmp_path) -> None:
    [lid] = steward.licences.import_file(write_xml(tmp_path / "n.xml", [record(1, file="")])).ids
    v = service.licences.verify(lid)
    assert not v.ok and any("no licence file" in r for r in v.reasons)


def test_analyst_cannot_read_import_or_revoke(steward, analyst, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    with pytest.raises(AccessDenied):
        analyst.licences.for_holder(FIRM)
    with pytest.raises(AccessDenied):
        analyst.licences.get(lid)
    with pytest.raises(AccessDenied):
        analyst.licences.verify(lid)
    with pytest.raises(AccessDenied):
        analyst.licences.revoke(lid, "no")
    with pytest.raises(AccessDenied):
        analyst.licences.import_file(write_xml(tmp_path / "x.xml", [record(2)]), files=files,
                                     department="市场监管局")


def test_steward_of_another_department_cannot_import_or_revoke(workspace, steward, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    workspace.add_principal("steward_ps", ["steward"], department="公安局")
    other = workspace.as_user("steward_ps")
    with pytest.raises(AccessDenied):
        other.licences.revoke(lid, "not mine")
    with pytest.raises(AccessDenied):
        other.licences.import_file(write_xml(tmp_path / "y.xml", [record(2)]), files=files,
                                   department="市场监管局")
    assert workspace.licences.revoke(lid, "admin may").status == "revoked"


def test_reads_are_audited_with_the_holder_hashed(steward, service, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    service.licences.for_holder(FIRM)
    service.licences.get(lid)
    with service.store.session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "licence.read")
                           .order_by(AuditEvent.seq)).all()
        assert [e.actor for e in events] == ["licence_reader", "licence_reader"]
        assert [e.details["licences"] for e in events] == [[lid], [lid]]
        assert events[0].details["holder"] == events[1].details["holder"]
        assert len(events[0].details["holder"]) == 64
        dumped = str([(e.target, e.details) for e in events])
        assert FIRM not in dumped


def test_for_holder_validates_the_identifier(service) -> None:
    with pytest.raises(ValidationFailed, match="check character"):
        service.licences.for_holder(FIRM[:-1] + ("0" if FIRM[-1] != "0" else "1"))
    with pytest.raises(NotFound):
        service.licences.get("nope")


def test_anchor_a_licence_file_on_the_chain(steward, files, tmp_path) -> None:
    [lid] = _import(steward, files, tmp_path, record(1))
    receipt = steward.licences.anchor(lid)
    assert receipt["anchor"] and steward.licences.describe(lid)["anchor_id"] == receipt["anchor"]
    with pytest.raises(Conflict, match="already anchored"):
        steward.licences.anchor(lid)


def test_a_just_harvested_licence_file_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo harvests and scans its licence XML, then imports its licences: the import takes the
    harvest's parse of the same bytes (same rows), and parses itself once the file has changed."""
    import defusedxml.ElementTree as det

    from govfabric.catalog.harvest import files as hf
    from govfabric.prefill.licences import importers

    path = write_xml(tmp_path / "lic.xml", [record(1), record(2, status="注销")])
    expected = importers.xml_rows(path.read_bytes(), path.name)
    hf.read_xml_rows(path)  # the harvest's read
    parses: list[int] = []
    real = det.fromstring
    monkeypatch.setattr(det, "fromstring", lambda data, *a, **k: parses.append(1) or real(data, *a, **k))
    assert importers.read_rows(path) == expected and parses == []
    write_xml(path, [record(3)])
    assert importers.read_rows(path) == importers.xml_rows(path.read_bytes(), path.name) and len(parses) == 2
    path.write_text("<other><licence><number>1</number></licence></other>", encoding="utf-8")
    hf.read_xml_rows(path)
    with pytest.raises(ValidationFailed, match="root element must be <licences>"):
        importers.read_rows(path)  # the importer's own checks still apply to a shared parse
