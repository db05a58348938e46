"""Sharing process management: classes enforced, the lifecycle's roles and reasons, requests through
apply → approve → grant, the public principal, suspension and retirement, time limits and statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from govfabric.auth.principals import PUBLIC
from govfabric.errors import AccessDenied, AlreadyExists, NotFound, ValidationFailed
from govfabric.store.base import utcnow


def _events(fabric, action):
    return [{"details": e.details, "actor": e.actor} for e in fabric.as_user("admin").audit.events(action=action)]


def test_classes_default_from_the_catalog_and_may_only_be_stricter(world):
    offer = world.shares.create("table", "market.enterprise", title="企业基本信息")
    assert (offer.sharing_class, offer.open_class, offer.state) == ("unconditional", "conditional_open", "draft")
    assert offer.owner_department == "北京市市场监督管理局" and offer.tables == ["market.enterprise"]
    stricter = world.shares.create("table", "market.enterprise", name="ent_strict", sharing_class="有条件共享",
                                   open_class="不予开放")
    assert (stricter.sharing_class, stricter.open_class) == ("conditional", "not_open")
    with pytest.raises(ValidationFailed, match="looser"):
        world.shares.create("table", "market.cases", name="cases_loose", sharing_class="无条件共享")
    with pytest.raises(AlreadyExists):
        world.shares.create("table", "market.enterprise")


def test_targets_must_exist(world):
    with pytest.raises(NotFound):
        world.shares.create("table", "market.nothing")
    with pytest.raises(NotFound):
        world.shares.create("view", "market.enterprise")  # a table, not a view
    with pytest.raises(NotFound):
        world.shares.create("service", "no_service")
    with pytest.raises(NotFound):
        world.shares.create("dataset", "market.enterprise")  # not offered as a dataset
    with pytest.raises(ValidationFailed, match="unknown share kind"):
        world.shares.create("cube", "market.enterprise")


def test_dataset_and_view_targets_resolve_to_their_tables(world):
    world.datasets.publish("market.enterprise", ["csv"])
    offer = world.shares.create("dataset", "market.enterprise", name="ent_files")
    assert offer.target_kind == "dataset" and offer.tables == ["market.enterprise"]
    world.virtual.create_view("market.ent_cases", "SELECT e.qymc FROM market.enterprise e "
                              "JOIN market.cases c ON true")
    world.query_api.create("ent_lookup", "market.enterprise", params={"tyshxydm": ["eq"]}, columns=["qymc"])
    service = world.shares.create("service", "ent_lookup")
    assert (service.target_kind, service.tables, service.sharing_class) == ("service", ["market.enterprise"],
                                                                          "unconditional")
    view = world.shares.create("view", "market.ent_cases")
    assert view.tables == ["market.cases", "market.enterprise"]
    assert view.sharing_class == "conditional"  # the strictest of what it reads


def test_not_shared_cannot_be_published(world):
    world.shares.create("table", "market.cases", sharing_class="不予共享")
    with pytest.raises(ValidationFailed, match="不予共享"):
        world.shares.submit("market.cases", "please")
    assert world.shares.show("market.cases")["state"] == "draft"


def test_lifecycle_roles_reasons_and_allowed_transitions(world, walk):
    world.shares.create("table", "market.enterprise")
    with pytest.raises(ValidationFailed, match="reason"):
        world.shares.submit("market.enterprise", "")
    with pytest.raises(ValidationFailed, match="draft; publish needs"):
        world.shares.publish("market.enterprise", "skip review")
    world.shares.submit("market.enterprise", "ready")
    with pytest.raises(AccessDenied, match="reviewer"):
        world.shares.review("market.enterprise", "I approve myself")  # a steward is no reviewer
    reviewer = world.as_user("reviewer1")
    reviewer.shares.review("market.enterprise", "classification wrong", approve=False)
    assert world.shares.show("market.enterprise")["state"] == "draft"
    walk(world, "market.enterprise")
    world.shares.suspend("market.enterprise", "source migration")
    with pytest.raises(ValidationFailed, match="suspended"):
        world.shares.suspend("market.enterprise", "again")
    world.shares.publish("market.enterprise", "migration done")  # suspended → published again
    world.shares.retire("market.enterprise", "replaced")
    with pytest.raises(ValidationFailed, match="retired"):
        world.shares.publish("market.enterprise", "back")
    info = world.shares.show("market.enterprise")
    assert [h["to"] for h in info["history"]] == ["draft", "submitted", "draft", "submitted", "reviewed",
                                                  "published", "suspended", "published", "retired"]
    assert info["history"][2]["reason"] == "classification wrong" and info["history"][2]["by"] == "reviewer1"
    assert [e["details"]["to"] for e in _events(world, "share.publish")] == ["published", "published"]


def test_attacker_with_a_narrow_grant_cannot_drive_someone_elses_offer(world, walk):
    world.shares.create("table", "market.enterprise")
    world.access.grant("analyst1", "market.enterprise", columns=["qymc"])  # a narrow grant
    analyst = world.as_user("analyst1")
    other_steward = world.as_user("steward_ps")  # a steward, but of another department
    for who in (analyst, other_steward):
        with pytest.raises((AccessDenied, NotFound)):
            who.shares.submit("market.enterprise", "let me")
        with pytest.raises((AccessDenied, NotFound)):
            who.shares.review("market.enterprise", "looks fine")
        with pytest.raises(AccessDenied):
            who.shares.create("table", "market.enterprise", name="mine")
    walk(world, "market.enterprise", to="reviewed")
    for who in (analyst, other_steward):
        with pytest.raises((AccessDenied, NotFound)):
            who.shares.publish("market.enterprise", "go")
    world.shares.publish("market.enterprise", "go")
    for who in (analyst, other_steward):
        with pytest.raises(AccessDenied):
            who.shares.suspend("market.enterprise", "stop")
        with pytest.raises(AccessDenied):
            who.shares.retire("market.enterprise", "stop")
    assert world.shares.show("market.enterprise")["state"] == "published"


def test_a_reviewer_does_not_review_what_they_submitted(world):
    world.shares.create("table", "market.enterprise")
    world.shares.submit("market.enterprise", "ready")
    # steward_mr submitted; reviewer2 may review, the submitter may not even with the reviewer role
    from govfabric.auth import principals

    with world.store.session() as s:
        principals.set_roles(s, "admin", "steward_mr", ["steward", "reviewer"])
    with pytest.raises(AccessDenied, match="submitted"):
        world.shares.review("market.enterprise", "self review")
    world.as_user("reviewer2").shares.review("market.enterprise", "ok")


def test_unconditional_request_grants_at_once_audited(world, walk):
    world.shares.create("table", "market.enterprise")
    walk(world, "market.enterprise")
    analyst = world.as_user("analyst1")
    with pytest.raises(AccessDenied):
        analyst.sql('SELECT qymc FROM market.enterprise LIMIT 1')
    req = analyst.shares.request("market.enterprise", "企业画像分析")
    assert req.mode == "automatic" and len(req.grants) == 1
    assert analyst.sql('SELECT qymc FROM market.enterprise LIMIT 1').num_rows == 1
    events = _events(world, "share.request")
    assert events[-1]["details"]["grants"] == req.grants
    assert [e for e in _events(world, "access.grant") if e["details"]["grant"] == req.grants[0]]
    assert analyst.shares.requests()[0]["status"] == "granted"


def test_conditional_request_needs_the_stewards_approval(world, walk):
    world.shares.create("table", "market.cases")
    walk(world, "market.cases")
    analyst = world.as_user("analyst1")
    req = analyst.shares.request("market.cases", "案件统计分析")
    assert req.mode == "approval" and req.grants == [] and len(req.access_requests) == 1
    with pytest.raises(AccessDenied):
        analyst.sql("SELECT count(*) FROM market.cases")
    assert analyst.shares.requests()[0]["status"] == "pending"
    with pytest.raises(AlreadyExists, match="still pending"):
        analyst.shares.request("market.cases", "案件统计分析")
    grant = world.access.approve(req.access_requests[0], reason="ok")  # the approval makes the grant
    assert analyst.sql("SELECT count(*) AS n FROM market.cases").num_rows == 1
    mine = analyst.shares.requests()[0]
    assert mine["status"] == "approved" and mine["hours_to_decide"] is not None and grant.grantee == "analyst1"


def test_open_offer_grants_public_and_nothing_more(world, walk):
    world.shares.create("table", "market.licence")
    walk(world, "market.licence")
    from govfabric.auth import principals

    with world.store.session() as s:
        p = principals.get(s, PUBLIC)
        assert (p.kind, p.roles) == ("application", [])  # a grant to role:analyst never reaches visitors
    public = world.as_user(PUBLIC)
    assert public.sql("SELECT * FROM market.licence LIMIT 1").num_rows == 1
    with pytest.raises(AccessDenied):
        public.sql("SELECT * FROM market.enterprise LIMIT 1")
    # suspend and publish again: one grant to public, not two
    world.shares.suspend("market.licence", "pause")
    world.shares.publish("market.licence", "resume")
    assert len([g for g in world.access.grants(grantee=PUBLIC)]) == 1


def test_suspension_keeps_grants_refuses_new_requests_and_retirement_revokes(world, walk):
    world.shares.create("table", "market.enterprise")
    walk(world, "market.enterprise")
    analyst = world.as_user("analyst1")
    analyst.shares.request("market.enterprise", "企业画像分析")
    world.shares.suspend("market.enterprise", "source migration")
    assert analyst.sql("SELECT qymc FROM market.enterprise LIMIT 1").num_rows == 1  # kept
    with pytest.raises(ValidationFailed, match="suspended"):
        world.as_user("auditor1").shares.request("market.enterprise", "审计抽查")
    world.shares.retire("market.enterprise", "replaced by a new share")
    with pytest.raises(AccessDenied):
        analyst.sql("SELECT qymc FROM market.enterprise LIMIT 1")
    assert _events(world, "share.retire")[-1]["details"]["revoked"]


def test_overdue_reminders_once_per_stage_and_stats(world, walk):
    world.shares.create("table", "market.enterprise", limits={"submitted": 1})
    world.shares.create("table", "market.cases")
    walk(world, "market.enterprise", to="submitted")
    walk(world, "market.cases")
    analyst = world.as_user("analyst1")
    analyst.shares.request("market.cases", "案件统计分析")
    later = utcnow() + timedelta(hours=2)
    assert [x["item"] for x in world.shares.overdue(later)] == ["offer:market.enterprise"]
    world.as_user("reviewer1").shares.set_limit("request", 1)
    items = {x["item"] for x in world.shares.overdue(later)}
    assert items == {"offer:market.enterprise", "request:1"}
    sent = world.shares.remind(later)
    assert {x["item"] for x in sent} == items and world.shares.remind(later) == []  # once
    assert len(_events(world, "share.remind")) == 2 and len(world.shares.reminders()) == 2
    # the duty holders hear of it: reviewers for the submitted offer, the owning stewards for the request
    inbox = {x.subject for x in world.as_user("reviewer2").notifications.list()}
    assert inbox == {"共享事项超期 / overdue: offer:market.enterprise (submitted)"}
    assert any("request:1" in x.subject for x in world.notifications.list())
    assert not analyst.notifications.list()
    with pytest.raises(AccessDenied):
        analyst.shares.overdue()
    stats = world.shares.stats(later)
    (mr,) = stats["departments"]
    assert mr["offers"] == 2 and mr["by_state"] == {"submitted": 1, "published": 1}
    assert mr["requests"] == 1 and mr["requests_by_status"] == {"pending": 1} and mr["overdue"] == 2


def test_approval_times_median_and_p90(world, walk):
    world.shares.create("table", "market.cases")
    walk(world, "market.cases")
    for who in ("analyst1", "auditor1"):
        req = world.as_user(who).shares.request("market.cases", "案件统计分析")
        world.access.approve(req.access_requests[0], reason="ok")
    (mr,) = world.shares.stats()["departments"]
    assert mr["decided"] == 2 and mr["approval_hours_median"] is not None
    assert mr["approval_hours_p90"] >= mr["approval_hours_median"] and mr["grants"] == 2


def test_schedule_kind_records_reminders(world):
    world.shares.create("table", "market.enterprise", limits={"draft": 0.0001})
    import time

    time.sleep(0.5)
    world.schedule.add("share_reminders", "all", every="1h")
    job = world.schedule.jobs()[-1]["name"]
    result = world.schedule.run_job(job)
    assert "offer:market.enterprise" in str(result)
    assert len(world.shares.reminders()) == 1
