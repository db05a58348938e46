"""Service items and prefill runs on the demo workspace: versions, validation, consent, guarded
reads with masks and provenance, a failing source, eligibility, scenarios and 容缺."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefill_world import SERVICE, World, consent, item_doc
from sqlalchemy import func, select

from govfabric.errors import AccessDenied, ValidationFailed
from govfabric.prefill.models import CallRow, ItemRow, PendingRow
from govfabric.prefill.service import ConsentMissing


def _count(f: Any, model: Any) -> int:
    with f.store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_create_makes_a_new_version_each_time(world: World) -> None:
    p = world.steward.prefill
    assert p.create(item_doc()).version == 1
    assert p.create(item_doc(title="开办企业（新）")).version == 2
    assert p.get("open_business").title == "开办企业（新）" and p.get("open_business", 1).title == "开办企业"
    assert [(r.name, r.version) for r in p.list()] == [("open_business", 2)]
    d = p.describe("open_business")
    assert "field:rep_name" in d["consent_scope"] and "licence:11100000000000001" in d["consent_scope"]


def test_validate_lists_every_problem_and_writes_nothing(world: World) -> None:
    doc = copy.deepcopy(item_doc())
    doc["fields"][1]["source"]["table"] = "market.nope"  # unknown table
    doc["fields"][2]["source"]["column"] = "nope"  # unknown column
    doc["fields"][3]["component"] = "date"  # a date component over a number column
    doc["fields"].append({"name": "orphan", "component": "text", "shared": True})  # no source
    doc["materials"][0]["channel"] = "post"  # unknown channel
    _, problems = world.steward.prefill.validate(doc)
    text = "\n".join(problems)
    assert "no virtual table or view market.nope" in text
    assert "has no visible column nope" in text
    assert "a date component cannot show market.enterprise.capital" in text
    assert "orphan" in text and "no source" in text
    assert "channel 'post'" in text
    with pytest.raises(ValidationFailed, match="nothing was written"):
        world.steward.prefill.create(doc)
    assert _count(world.steward, ItemRow) == 0
    _, problems = world.steward.prefill.validate(item_doc(principal="analyst1"))
    assert problems == ["item: principal analyst1 must be a business_system (it checks the applicant's consent); "
                        "give it that role"]


def test_prefill_fills_fields_through_the_read_path(world: World) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    f = {x["name"]: x for x in got["fields"]}
    assert f["ent_name"]["value"] == world.row["name"] and f["ent_name"]["editable"] is False
    assert f["ent_name"]["provenance"]["table"] == "market.enterprise"
    assert f["ent_name"]["provenance"]["department"] == "市场监管局" and f["ent_name"]["provenance"]["as_of"]
    assert f["rep_id"]["value"] == world.rep_id  # unmasked by the grant, masked for display by the spec
    assert f["rep_id"]["display"] == world.rep_id[:6] + "********" + world.rep_id[-4:]
    # keyed by another field (the legal representative); the read path's default name mask applies
    assert f["rep_name"]["status"] == "filled", f["rep_name"]["reason"]
    assert f["rep_name"]["value"] != world.row["rep_name"] and f["rep_name"]["value"][0] == world.row["rep_name"][0]
    # the grant masks the phone by default (the read path's masks apply to the service's reads)
    assert f["rep_phone"]["status"] == "filled" and f["rep_phone"]["value"] != world.row["phone"]
    assert f["contact"]["status"] == "applicant" and f["contact"]["value"] is None
    assert got["eligibility"]["eligible"] is (world.row["status"] in ("存续", "在业"))
    assert got["scenario"] == "change"  # the first scenario without a condition
    with world.steward.store.session() as s:
        call = s.scalar(select(CallRow))
    assert call.status == "filled" and "rep_name" in call.fields and call.applicant_hash != world.uscc
    events = world.steward.as_user("admin").audit.events(action="prefill.run")
    assert events and world.uscc not in str(events[-1].details) and world.row["name"] not in str(events[-1].details)


def test_wrong_check_character_is_refused(world: World) -> None:
    world.steward.prefill.create(item_doc())
    bad = world.uscc[:-1] + ("0" if world.uscc[-1] != "0" else "1")
    with pytest.raises(ValidationFailed, match="applicant identifier is not valid"):
        world.service.prefill.run("open_business", bad)
    assert _count(world.steward, CallRow) == 0


def test_no_consent_is_refused_naming_what_is_missing(world: World) -> None:
    world.steward.prefill.create(item_doc())
    with pytest.raises(ConsentMissing, match="missing consent for field:capital, field:ent_name"):
        world.service.prefill.run("open_business", world.uscc)
    consent(world, scope=["field:ent_name", "field:status"])  # a partial consent
    with pytest.raises(ConsentMissing, match="missing consent for field:capital") as exc:
        world.service.prefill.run("open_business", world.uscc)
    assert "field:ent_name," not in str(exc.value)
    hist = world.steward.prefill.history(world.uscc)
    assert [h["status"] for h in hist] == ["refused", "refused"] and hist[0]["fields"] == []
    assert _count(world.steward, PendingRow) == 0


def test_only_the_service_principal_runs_an_item(world: World) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    with pytest.raises(AccessDenied, match="only its service principal"):
        world.steward.prefill.run("open_business", world.uscc)


def test_a_refused_source_marks_its_fields_unavailable(world: World) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    ps = world.steward.as_user("steward_ps")
    ps.access.revoke(next(g.id for g in ps.access.grants() if g.grantee == SERVICE and g.table_name == "ps.person"))
    got = world.service.prefill.run("open_business", world.uscc)
    f = {x["name"]: x for x in got["fields"]}
    assert f["rep_name"]["status"] == "unavailable" and "no grant on ps.person" in f["rep_name"]["reason"]
    assert f["rep_phone"]["status"] == "unavailable"
    assert f["ent_name"]["status"] == "filled" and f["ent_name"]["value"] == world.row["name"]


def test_an_unreachable_source_marks_its_fields_unavailable(world: World, tmp_path: Any) -> None:
    import sqlite3

    db = tmp_path / "health.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE birth (uscc TEXT, note TEXT)")
    con.execute("INSERT INTO birth VALUES (?, 'x')", (world.uscc,))
    con.commit()
    con.close()
    world.steward.catalog.add_source("health_db", f"sqlite:///{db}", department="北京市市场监督管理局")
    world.steward.catalog.harvest("health_db")
    world.steward.virtual.create_table("health.birth", "health_db.main.birth")
    world.steward.access.grant(SERVICE, "health.birth")
    doc = item_doc()
    doc["fields"].append({"name": "note", "component": "text", "shared": True, "department": "卫健委",
                          "source": {"table": "health.birth", "column": "note", "key": "uscc"}})
    world.steward.prefill.create(doc)
    consent(world, scope=[*world.steward.prefill.describe("open_business")["consent_scope"]])
    assert {x["name"]: x for x in world.service.prefill.run("open_business", world.uscc)["fields"]}[
        "note"]["value"] == "x"
    world.service.release_engines()
    db.write_bytes(b"this is not a database" * 100)  # the department's system is gone
    got = world.service.prefill.run("open_business", world.uscc)
    f = {x["name"]: x for x in got["fields"]}
    assert f["note"]["status"] == "unavailable" and f["note"]["reason"], f["note"]
    assert f["ent_name"]["status"] == "filled" and f["rep_name"]["status"] == "filled"


def test_deferred_materials_are_tracked_with_due_dates(world: World) -> None:
    world.steward.prefill.create(item_doc())
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc, scenario="new")
    m = {x["name"]: x for x in got["materials"]}
    assert m["articles"]["status"] == "needed" and m["premises"]["status"] == "deferred" and m["premises"]["due"]
    pending = world.steward.prefill.pending(applicant_id=world.uscc)
    assert [p["material"] for p in pending] == ["premises"] and not pending[0]["overdue"]
    from govfabric.governance.schedule.service import Scheduler

    sched = Scheduler(world.steward)
    sched.add("prefill_reminders", "open_business", every="1d", options={"days": 5})
    with pytest.raises(ValidationFailed):
        sched.add("prefill_reminders", "all", every="1d", options={"days": "x"})
    [run] = sched.run_due(now=datetime.now(UTC) + timedelta(days=2))
    assert run["status"] == "ok", run
    events = world.steward.as_user("admin").audit.events(action="prefill.remind")
    assert [e.target for e in events] == [f"pending:{pending[0]['id']}"] and world.uscc not in str(events[0].details)
    # the applicant linked to that identifier hears of it; nobody else does
    admin = world.steward.as_user("admin")
    admin.add_principal("applicant_a", ["analyst"], attributes={"applicant_id": world.uscc})
    admin.add_principal("someone_else", ["analyst"])
    from govfabric.prefill.reminders import remind

    assert remind(world.steward, "open_business", {"days": 5})["reminded"] == 1
    [note] = world.steward.as_user("applicant_a").notifications.list()
    assert "premises" in note.subject and world.uscc not in note.body
    assert world.steward.as_user("someone_else").notifications.list() == []
    world.steward.prefill.submit(pending[0]["id"])
    assert world.steward.prefill.pending(applicant_id=world.uscc) == []
    with pytest.raises(ValidationFailed, match="no scenario"):
        world.service.prefill.run("open_business", world.uscc, scenario="nope")


def test_eligibility_gives_reasons(world: World) -> None:
    doc = item_doc(eligibility=[{"rule": "status == '注销'", "reason": "仅注销企业可办理"}])
    world.steward.prefill.create(doc)
    consent(world)
    got = world.service.prefill.run("open_business", world.uscc)
    if world.row["status"] != "注销":
        assert got["eligibility"]["eligible"] is False
        assert got["eligibility"]["rules"][0]["reason"] == "仅注销企业可办理"


def test_tables_keyed_by_the_applicant_are_read_in_one_query(world: World) -> None:
    """Cheaper prefill: the applicant-keyed tables in ONE guarded SELECT (masks as alone); a
    table the service may not read still marks only its own fields unavailable."""
    world.steward.virtual.create_table("market.contact", "mr_db.main.t_qy_jbxx",
                                       renames={"tyshxydm": "uscc", "lxdh": "phone", "zs": "address"},
                                       only=["tyshxydm", "lxdh", "zs"])
    grant = world.steward.access.grant(SERVICE, "market.contact")
    doc = item_doc()
    doc["fields"] += [
        {"name": "ent_phone", "label": "联系电话", "component": "text", "shared": True, "department": "市场监管局",
         "source": {"table": "market.contact", "column": "phone", "key": "uscc"}},
        {"name": "ent_address", "label": "住所", "component": "text", "shared": True, "department": "市场监管局",
         "source": {"table": "market.contact", "column": "address", "key": "uscc"}}]
    world.steward.prefill.create(doc)
    from govfabric.prefill.spec import check_structure

    scope = check_structure(doc)[0].consent_scope()  # type: ignore[union-attr]
    world.steward.security.consent.give(world.uscc, "开办企业", scope, SERVICE)
    admin = world.steward.as_user("admin")
    before = len(admin.audit.events(action="sql.query"))
    f = {x["name"]: x for x in world.service.prefill.run("open_business", world.uscc)["fields"]}
    assert len(admin.audit.events(action="sql.query")) - before == 2  # applicant-keyed tables + the person
    alone = world.service.sql(f"SELECT phone, address FROM market.contact WHERE uscc = '{world.uscc}'").to_pylist()[0]
    assert f["ent_phone"]["value"] == alone["phone"] and f["ent_address"]["value"] == alone["address"]
    assert f["ent_name"]["value"] == world.row["name"] and f["rep_name"]["status"] == "filled"
    assert f["ent_phone"]["provenance"]["table"] == "market.contact"
    world.steward.access.revoke(grant.id)
    f = {x["name"]: x for x in world.service.prefill.run("open_business", world.uscc)["fields"]}
    assert f["ent_phone"]["status"] == "unavailable" and f["ent_name"]["status"] == "filled"


def test_prefills_for_different_applicants_plan_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The applicant's identifier is a bound parameter, never text: a second applicant's prefill
    reuses every plan the first one made (the plan cache is keyed by the query's text)."""
    from govfabric.virtualization import query

    ents = world.steward.sql("SELECT uscc, legal_rep_id FROM market.enterprise ORDER BY uscc").to_pylist()
    other = next(e for e in ents if e["uscc"] != world.uscc and e["legal_rep_id"] != world.rep_id)
    world.steward.prefill.create(item_doc())
    consent(world)
    consent(world, uscc=other["uscc"])
    planned: list[str] = []
    real = query.plan
    monkeypatch.setattr(query, "plan", lambda *a, **k: planned.append(a[0]) or real(*a, **k))
    first = {f["name"]: f for f in world.service.prefill.run("open_business", world.uscc)["fields"]}
    assert planned and not any(world.uscc in sql or world.rep_id in sql for sql in planned)
    n = len(planned)
    second = {f["name"]: f for f in world.service.prefill.run("open_business", other["uscc"])["fields"]}
    assert planned[n:] == []  # the second applicant plans nothing
    assert first["rep_id"]["value"] == world.rep_id and second["rep_id"]["value"] == other["legal_rep_id"]
    assert second["ent_name"]["status"] == "filled" and second["ent_name"]["value"] != first["ent_name"]["value"]
