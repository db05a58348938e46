"""Ownership on every change to virtual tables, views, masks and row filters (holes 3, 4, 7):
only the owning department's steward or an admin; analysts keep views in ``u_<name>``; drops
refuse while something depends on them; default masks are created with their table."""

from __future__ import annotations

from pathlib import Path

import pytest

from govfabric.errors import AccessDenied, ValidationFailed
from govfabric.hooks import TableCreated, subscribed

PERSON = "ps_db.main.t_rk_jbxx"


@pytest.fixture
def ps(demo):
    """``ps.person`` of the public-security department, created by its steward."""
    steward_ps = demo.as_user("steward_ps")
    steward_ps.virtual.create_table("ps.person", PERSON, renames={"gmsfhm": "id_no", "xm": "name",
                                                                  "hjd_xzqh": "district"})
    return demo


def test_other_department_steward_cannot_remap_create_or_drop(ps) -> None:
    mr = ps  # steward_mr: market regulation
    with pytest.raises(AccessDenied, match="may not remap ps.person: only a steward of 北京市公安局"):
        mr.virtual.remap("ps.person", {"district": "gmsfhm"})
    with pytest.raises(AccessDenied, match="北京市公安局"):
        mr.virtual.create_table("ps.copy", PERSON)
    with pytest.raises(AccessDenied, match="may not drop"):
        mr.virtual.drop_table("ps.person")
    assert ps.virtual.table("ps.person").version == 1


def test_owner_remap_onto_personal_column_gets_its_mask(ps) -> None:
    """Masks are keyed by virtual column: a column re-pointed at ID numbers is masked as one."""
    ps.as_user("steward_ps").virtual.remap("ps.person", {"district": "gmsfhm"})
    masks = {m.column_name: m.rule for m in ps.access.masks("ps.person")}
    assert masks["district"] == masks["id_no"]


def test_views_belong_to_their_owner_and_analysts_keep_their_own(ps) -> None:
    ps.virtual.create_table("market.firm", "mr_db.main.t_qy_jbxx", renames={"qymc": "name", "qx": "district"},
                            only=["qymc", "qx"])
    ps.virtual.create_view("market.firms", "SELECT name, district FROM market.firm")
    ps.access.grant("analyst1", "market.firm")
    analyst = ps.as_user("analyst1")
    with pytest.raises(AccessDenied, match="own namespace: name it u_analyst1"):
        analyst.virtual.create_view("market.mine", "SELECT name FROM market.firm")
    with pytest.raises(AccessDenied, match="own namespace"):
        analyst.virtual.create_view("market.firms", "SELECT name, district FROM market.firm", replace=True)
    with pytest.raises(AccessDenied, match="may not replace view market.firms: it belongs to steward_mr"):
        ps.as_user("steward_ps").virtual.create_view("market.firms", "SELECT name FROM market.firm", replace=True)
    with pytest.raises(AccessDenied, match="no grant on ps.person"):
        analyst.virtual.create_view("u_analyst1.people", "SELECT name FROM ps.person")
    v = analyst.virtual.create_view("u_analyst1.firms", "SELECT name FROM market.firm")
    assert v.created_by == "analyst1"
    with pytest.raises(AccessDenied, match="another principal's namespace"):
        ps.as_user("steward_ps").virtual.create_view("u_analyst1.x", "SELECT 1 AS one")
    with pytest.raises(AccessDenied, match="may not drop view u_analyst1.firms"):
        ps.as_user("steward_ps").virtual.drop_view("u_analyst1.firms")
    assert ps.virtual.create_view("market.firms", "SELECT name FROM market.firm", replace=True).version == 2
    assert ps.as_user("admin").virtual.create_view("market.firms", "SELECT district FROM market.firm",
                                                   replace=True).version == 3


def test_drops_refuse_dependants_unless_forced_and_are_audited(ps) -> None:
    steward_ps = ps.as_user("steward_ps")
    steward_ps.virtual.create_view("ps.names", "SELECT name FROM ps.person")
    steward_ps.virtual.create_view("ps.names2", "SELECT name FROM ps.names")
    grant = steward_ps.access.grant("analyst1", "ps.person", columns=["name"])
    with pytest.raises(ValidationFailed, match="read by view\\(s\\) ps.names, ps.names2;"):
        steward_ps.virtual.drop_table("ps.person")
    with pytest.raises(ValidationFailed, match="read by view\\(s\\) ps.names2"):
        steward_ps.virtual.drop_view("ps.names")
    assert steward_ps.virtual.drop_view("ps.names2") == []
    assert steward_ps.virtual.drop_table("ps.person", force=True) == ["ps.names"]
    assert ps.access.masks("ps.person") == []
    assert all(g.id != grant.id for g in ps.access.grants())
    views = {v.name: v for v in ps.virtual.views()}
    assert views["ps.names"].status == "broken" and "ps.names2" not in views
    events = {e.action: e.details for e in ps.as_user("admin").audit.events() if e.action in ("vt.drop", "view.drop")}
    assert events["vt.drop"]["forced"] is True and events["vt.drop"]["dependants"] == ["ps.names"]
    assert events["view.drop"]["dependants"] == []


def test_masks_and_row_filters_are_the_owners(ps) -> None:
    mr = ps
    with pytest.raises(AccessDenied, match="only a steward of 北京市公安局"):
        mr.access.set_mask("ps.person", "name", "full")
    with pytest.raises(AccessDenied, match="only a steward of 北京市公安局"):
        mr.access.remove_mask("ps.person", "id_no")
    with pytest.raises(AccessDenied, match="only a steward of 北京市公安局"):
        mr.access.add_row_filter("ps.person", "*", "district = '110105'")
    steward_ps = ps.as_user("steward_ps")
    with pytest.raises(ValidationFailed, match="unknown column 'nosuch'"):
        steward_ps.access.add_row_filter("ps.person", "*", "nosuch = 1")
    p = steward_ps.access.add_row_filter("ps.person", "role:analyst", "district = principal_attr('region')")
    with pytest.raises(AccessDenied, match="only a steward of 北京市公安局"):
        mr.access.remove_row_filter(p.id)
    steward_ps.access.remove_row_filter(p.id)
    assert ps.access.row_filters("ps.person") == []
    assert any(e.action == "policy.row_filter_remove" for e in ps.as_user("admin").audit.events())


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str]:
    from govfabric.cli.main import run

    code = run(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_hidden_personal_column_leaves_the_others_masked(demo, demo_home: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Hole 7: hiding a personal column used to abort the default masks of all the others."""
    code, out = gf(capsys, demo_home, "--as", "steward_ps", "vt", "create", "ps.person", "--from", PERSON,
                   "--hide", "gmsfhm")
    assert code == 0, out
    masks = {m.column_name for m in demo.access.masks("ps.person")}
    assert {"xm", "sjhm", "hjdz", "xzz"} <= masks and "gmsfhm" not in masks
    code, out = gf(capsys, demo_home, "--as", "steward_mr", "vt", "map", "ps.person", "--column", "xb=gmsfhm")
    assert code != 0 and "only a steward of 北京市公安局" in out


def test_table_and_masks_all_or_nothing(demo, demo_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing default-mask hook leaves no table behind; the command exits non-zero."""
    def broken(event: TableCreated) -> None:
        raise ValidationFailed("mask store unavailable")

    with subscribed(TableCreated, broken):
        with pytest.raises(ValidationFailed, match="mask store unavailable"):
            demo.as_user("steward_ps").virtual.create_table("ps.person", PERSON)
        code, out = gf(capsys, demo_home, "--as", "steward_ps", "vt", "create", "ps.person", "--from", PERSON)
        assert code != 0 and "mask store unavailable" in out
    assert "ps.person" not in {t.name for t in demo.virtual.tables()}
    assert demo.access.masks("ps.person") == []


def test_analysts_see_their_own_requests_and_grants(ps) -> None:
    steward_ps = ps.as_user("steward_ps")
    steward_ps.access.grant("steward_mr", "ps.person", columns=["name"])
    analyst = ps.as_user("analyst1")
    req = analyst.access.request("ps.person", columns=["name"], purpose="人口统计分析", until=None)
    ps.as_user("auditor1").access.request("ps.person", columns=["id_no"], purpose="审计抽查", until=None)
    assert [r.id for r in analyst.access.requests()] == [req.id]
    assert len(steward_ps.access.requests()) == 2
    assert analyst.access.grants() == []
    steward_ps.access.approve(req.id)
    assert [g.grantee for g in analyst.access.grants()] == ["analyst1"]
    assert {g.grantee for g in ps.as_user("auditor1").access.grants()} == {"steward_mr", "analyst1"}


def test_cli_view_replace_and_drops(ps, demo_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hole 4 from the command line: someone else's view cannot be replaced; drops list dependants."""
    sql = "SELECT name FROM ps.person"
    assert gf(capsys, demo_home, "--as", "steward_ps", "view", "create", "ps.names", "--sql", sql)[0] == 0
    code, out = gf(capsys, demo_home, "--as", "steward_mr", "view", "create", "ps.names", "--sql",
                   "SELECT id_no AS name FROM ps.person", "--replace")
    assert code != 0 and "belongs to steward_ps" in out
    code, out = gf(capsys, demo_home, "--as", "steward_ps", "vt", "drop", "ps.person")
    assert code != 0 and "ps.names" in out
    assert ps.virtual.table("ps.person").name == "ps.person"
    assert gf(capsys, demo_home, "--as", "steward_ps", "view", "drop", "ps.names")[0] == 0
    assert gf(capsys, demo_home, "--as", "steward_ps", "vt", "drop", "ps.person")[0] == 0
    actions = [e.action for e in ps.as_user("admin").audit.events()]
    assert actions.index("view.drop") < actions.index("vt.drop")


def test_definitions_and_policies_in_full_only_for_owners(ps, capsys, demo_home) -> None:
    """Like `--explain`: physical names, hidden columns, row-filter text and mask parameters are the
    owners'; others see virtual names, Chinese names and types, and that a policy exists."""
    import json

    steward_ps = ps.as_user("steward_ps")
    steward_ps.access.add_row_filter("ps.person", "role:analyst", "district = '110105'")
    steward_ps.access.set_mask("ps.person", "name", "hash", {"salt": "pepper"})
    for who, full in (("analyst1", False), ("steward_mr", False), ("steward_ps", True), ("admin", True)):
        code, out = gf(capsys, demo_home, "--as", who, "vt", "show", "ps.person", "--json")
        shown = json.loads(out)
        assert code == 0 and ("physical" in shown["fields"]) is full
        assert ("t_rk_jbxx" in out or "gmsfhm" in out) is full
        code, out = gf(capsys, demo_home, "--as", who, "policy", "list", "--table", "ps.person", "--json")
        assert code == 0 and ("110105" in out) is full and ("pepper" in out) is full
        assert "row filter" in out and "hash" in out  # that they exist is no secret
