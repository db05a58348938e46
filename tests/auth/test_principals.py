"""Principals: set-role, disable and enable (admin only, audited, never the last admin), and
every open session — another Fabric on the same store, as another process has — acting with
the change from its next call (hole 12). Both store backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from govfabric.errors import AccessDenied, ValidationFailed
from govfabric.fabric import connect


@pytest.fixture
def world(workspace, tmp_path: Path):
    """``w.people`` over a SQLite source of the steward's department, granted to the analyst."""
    db = tmp_path / "people.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (name TEXT, region TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?)", [("张伟", "110105"), ("李娜", "110108")])
    con.commit()
    con.close()
    workspace.catalog.add_source("ppl", f"sqlite:///{db}", department="市场监管局")
    workspace.catalog.harvest("ppl")
    workspace.virtual.create_table("w.people", "ppl.main.people")
    workspace.access.grant("analyst1", "w.people")
    return workspace


def opened(fabric, user: str):
    """The same workspace as ``user`` through its own store connection (another process)."""
    return connect(fabric.settings.home, user, migrate=False)


Q = "SELECT count(*) AS n FROM w.people"


def test_disable_reaches_open_sessions_and_enable_restores(world) -> None:
    analyst = opened(world, "analyst1")
    try:
        assert analyst.sql(Q).column("n")[0].as_py() == 2  # the session has read its principal
        world.set_principal_active("analyst1", False)
        with pytest.raises(AccessDenied, match="deactivated"):
            analyst.sql(Q)
        with pytest.raises(AccessDenied, match="deactivated"):
            analyst.access.request("w.people", columns=None, purpose="区域分析", until=None)
        world.set_principal_active("analyst1", True)
        assert analyst.sql(Q).column("n")[0].as_py() == 2
    finally:
        analyst.close()
    actions = [(e.action, e.target) for e in world.audit.events()]
    assert ("principal.disable", "principal:analyst1") in actions
    assert ("principal.enable", "principal:analyst1") in actions


def test_demoted_steward_loses_steward_rights_in_open_session(world) -> None:
    steward = opened(world, "steward1")
    try:
        req = world.as_user("analyst1").access.request("w.people", columns=["name"], purpose="区域分析",
                                                       until=None)
        assert steward.sql(Q).column("n")[0].as_py() == 2  # own department's table
        world.set_roles("steward1", ["analyst"])
        with pytest.raises(AccessDenied):
            steward.sql(Q)
        with pytest.raises(AccessDenied, match="only a steward"):
            steward.access.approve(req.id)
        with pytest.raises(AccessDenied, match="steward"):
            steward.virtual.create_table("w.people2", "ppl.main.people")
        world.set_roles("steward1", ["steward"])
        assert steward.access.approve(req.id).grantee == "analyst1"
    finally:
        steward.close()
    assert any(e.action == "principal.roles" and e.details["to"] == ["analyst"] for e in world.audit.events())


def test_only_admins_and_never_the_last_admin(world) -> None:
    with pytest.raises(AccessDenied, match="admin"):
        world.as_user("steward1").set_roles("analyst1", ["steward"])
    with pytest.raises(AccessDenied, match="admin"):
        world.as_user("steward1").set_principal_active("analyst1", False)
    with pytest.raises(ValidationFailed, match="last active admin"):
        world.set_principal_active("admin", False)
    with pytest.raises(ValidationFailed, match="last active admin"):
        world.set_roles("admin", ["steward"])
    with pytest.raises(ValidationFailed, match="unknown role"):
        world.set_roles("analyst1", ["boss"])
    world.set_roles("steward1", ["steward", "admin"])
    world.set_roles("admin", ["auditor"])  # another admin exists now
    assert world.as_user("steward1").actor.has("admin")


def gf(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str]:
    from govfabric.cli.main import run

    code = run(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_set_role_and_disable(world, capsys: pytest.CaptureFixture[str]) -> None:
    home = world.settings.home
    assert gf(capsys, home, "principal", "set-role", "analyst1", "analyst", "auditor")[0] == 0
    code, out = gf(capsys, home, "--as", "steward1", "principal", "disable", "analyst1")
    assert code != 0 and "needs role admin" in out
    assert gf(capsys, home, "principal", "disable", "analyst1")[0] == 0
    code, out = gf(capsys, home, "--as", "analyst1", "sql", Q)
    assert code != 0 and "deactivated" in out
    code, out = gf(capsys, home, "principal", "disable", "admin")
    assert code != 0 and "last active admin" in out
    assert gf(capsys, home, "principal", "enable", "analyst1")[0] == 0
    assert {p.name: p.roles for p in world.principals()}["analyst1"] == ["analyst", "auditor"]
