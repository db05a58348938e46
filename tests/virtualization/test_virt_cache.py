"""Plans are cached between queries, never past a change: every write to what a plan is built
from — made by this process, another Fabric (its own store connection and cache, as another
process has) or a real other process, through the services, bulk statements or plain SQL — and
every grant expiry applies to the next query. Cached queries are still recorded one by one."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from governance.openlineage_spec import validate_event
from sqlalchemy import func, select, text

from govfabric.auth import principals
from govfabric.errors import AccessDenied, QueryRejected
from govfabric.fabric import connect
from govfabric.governance.lineage.models import LineageEvent
from govfabric.store.base import utcnow
from govfabric.virtualization import cache
from govfabric.virtualization.models import QueryLog

Q = "SELECT name, region FROM w.people ORDER BY name"
NAMES = ["刘䶮", "张伟", "李娜"]


@pytest.fixture
def world(workspace, tmp_path: Path):
    """``w.people`` over a SQLite source of the steward's department; no masks but the test's."""
    db = tmp_path / "people.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE people (name TEXT, region TEXT, score INTEGER)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?)",
                    [("张伟", "110105", 1), ("李娜", "110108", 2), ("刘䶮", "110105", 3)])
    con.commit()
    con.close()
    workspace.catalog.add_source("ppl", f"sqlite:///{db}", department="市场监管局")
    workspace.catalog.harvest("ppl")
    workspace.virtual.create_table("w.people", "ppl.main.people")
    for m in workspace.access.masks("w.people"):
        workspace.access.remove_mask(m.table_name, m.column_name)
    return workspace


def other(fabric):
    """The same workspace through a new store connection: what another process sees and does."""
    return connect(fabric.settings.home, "admin", migrate=False)


def names(f) -> list[str]:
    return [r["name"] for r in f.sql(Q).to_pylist()]


def generation(f) -> int:
    with f.store.session() as s:
        return s.scalar(text("SELECT n FROM virt_generation WHERE id = 1"))


def test_a_plan_is_reused_until_something_it_depends_on_changes(world, analyst, steward) -> None:
    world.access.grant("analyst1", "w.people")
    first = analyst.queries.plan(Q)[0]
    assert analyst.queries.plan(Q)[0] is first
    assert analyst.as_user("analyst1").queries.plan(Q)[0] is first  # shared by the store's users
    assert steward.queries.plan(Q)[0] is not first  # per principal
    world.access.set_mask("w.people", "region", "full")
    second = analyst.queries.plan(Q)[0]
    assert second is not first and second.masked_columns == {"w.people": ("region",)}


def test_revoke_by_another_fabric_applies_to_the_next_query(world, analyst) -> None:
    g = world.access.grant("analyst1", "w.people")
    assert names(analyst) == NAMES
    with other(world) as o:
        o.access.revoke(g.id, "over")
    with pytest.raises(AccessDenied, match="no grant on w.people"):
        analyst.sql(Q)


def test_revoke_by_another_process_applies_to_the_next_query(world, analyst) -> None:
    g = world.access.grant("analyst1", "w.people")
    assert names(analyst) == NAMES
    code = ("import sys; from govfabric.fabric import connect\n"
            "with connect(sys.argv[1], 'admin', migrate=False) as f: f.access.revoke(int(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(world.settings.home), str(g.id)], check=True, timeout=120)
    with pytest.raises(AccessDenied):
        analyst.sql(Q)


def test_a_revoke_earlier_in_the_same_transaction_counts(world, analyst) -> None:
    g = world.access.grant("analyst1", "w.people")
    assert names(analyst) == NAMES
    with world.store.session():  # one transaction: the revoke is not committed when the query plans
        world.access.revoke(g.id)
        with pytest.raises(AccessDenied):
            analyst.sql(Q)


def test_masks_row_filters_and_grant_changes_by_another_fabric(world, analyst) -> None:
    world.access.grant("analyst1", "w.people", columns=["name"])
    with pytest.raises(AccessDenied, match="region"):
        analyst.sql(Q)
    only_names = "SELECT name FROM w.people ORDER BY name"
    assert [r["name"] for r in analyst.sql(only_names).to_pylist()] == NAMES
    with other(world) as o:
        o.access.set_mask("w.people", "name", "cn_name")
    masked = [r["name"] for r in analyst.sql(only_names).to_pylist()]
    assert len(masked) == 3 and all("*" in n for n in masked)
    with other(world) as o:
        o.access.add_row_filter("w.people", "analyst1", "region = principal_attr('region')")
    assert len(analyst.sql(only_names)) == 2
    with other(world) as o:
        o.access.remove_mask("w.people", "name")
        o.access.grant("analyst1", "w.people", columns=["region"])
    assert analyst.sql(Q).to_pylist() == [{"name": "刘䶮", "region": "110105"}, {"name": "张伟", "region": "110105"}]


def test_plain_sql_writes_and_expiry_without_any_write(world, analyst) -> None:
    g = world.access.grant("analyst1", "w.people")
    assert names(analyst) == NAMES
    with other(world) as o, o.store.engine.begin() as conn:  # behind every service's back
        conn.execute(text("UPDATE virt_grants SET expires_at = :t WHERE id = :id"),
                     {"t": utcnow() + timedelta(seconds=1.5), "id": g.id})
    assert names(analyst) == NAMES
    n = generation(world)
    time.sleep(1.6)
    with pytest.raises(AccessDenied):
        analyst.sql(Q)
    assert generation(world) == n  # nothing was written: the plan knew when its grant ends


def test_catalog_changes_by_another_fabric(world, steward) -> None:
    """The owning department's steward reads its tables: moving the asset to another department
    (plain SQL on the catalog's table) takes that away at once; the source going away breaks it."""
    assert names(steward) == NAMES
    with other(world) as o, o.store.engine.begin() as conn:
        conn.execute(text("UPDATE catalog_assets SET owner_department = '公安局' "
                          "WHERE qualified_name = 'ppl.main.people'"))
    with pytest.raises(AccessDenied):
        steward.sql(Q)
    world.access.grant("steward1", "w.people")
    assert names(steward) == NAMES
    with other(world) as o, o.store.engine.begin() as conn:
        conn.execute(text("UPDATE catalog_assets SET status = 'dropped' WHERE qualified_name = 'ppl.main.people'"))
    with pytest.raises(QueryRejected, match="dropped at its source"):
        steward.sql(Q)


def test_views_redefined_elsewhere_and_roles_in_the_key(world, analyst) -> None:
    world.virtual.create_view("w.v", "SELECT name FROM w.people WHERE score > 1")
    world.access.grant("role:analyst", "w.people")
    assert sorted(r["name"] for r in analyst.sql("SELECT * FROM w.v").to_pylist()) == ["刘䶮", "李娜"]
    with other(world) as o:
        o.virtual.create_view("w.v", "SELECT name, region FROM w.people WHERE score > 2", replace=True)
    assert analyst.sql("SELECT * FROM w.v").to_pylist() == [{"name": "刘䶮", "region": "110105"}]
    with world.store.session() as s:
        principals.set_roles(s, "admin", "analyst1", ["auditor"])
    with pytest.raises(AccessDenied):  # a principal read afresh: other roles, another policy
        world.as_user("analyst1").sql("SELECT * FROM w.v")


def test_missing_triggers_turn_caching_off(world, analyst) -> None:
    world.access.grant("analyst1", "w.people")
    with world.store.engine.begin() as conn:
        if world.store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER virt_gen_virt_grants_update"))
        else:
            conn.execute(text("DROP TRIGGER virt_gen_virt_grants ON virt_grants"))
    with other(world) as o:
        a = o.as_user("analyst1")
        assert a.queries.plan(Q)[0] is not a.queries.plan(Q)[0]
        g = o.access.grants(grantee="analyst1")[0]
        assert names(a) == NAMES
        o.access.revoke(g.id)
        with pytest.raises(AccessDenied):
            a.sql(Q)


def test_a_result_built_under_an_older_generation_is_not_kept() -> None:
    from govfabric.virtualization.policy import Policy

    c = cache.PlanCache()
    assert c.policy(5, ("k",)) is None
    c.policy(6, ("k",))  # another thread saw a newer generation meanwhile
    c.put_policy(5, ("k",), (Policy("p"), None))
    assert c.policy(6, ("k",)) is None
    c.put_policy(6, ("k",), (Policy("p"), utcnow() - timedelta(seconds=1)))
    assert c.policy(6, ("k",)) is None  # expired


def test_cached_queries_are_each_recorded(world, analyst) -> None:
    world.access.grant("analyst1", "w.people")
    for _ in range(3):
        assert names(analyst) == NAMES
    with world.store.session() as s:
        logged = s.scalar(select(func.count()).select_from(QueryLog).where(QueryLog.principal == "analyst1"))
        events = list(s.scalars(select(LineageEvent).where(LineageEvent.job_name == "virtual_query.analyst1")))
    assert logged == 3
    assert len(events) == 3 and len({e.run_id for e in events}) == 3 and len({e.outputs[0] for e in events}) == 3
    for e in events:
        validate_event(e.payload)
        assert e.payload["eventType"] == "COMPLETE"
    assert len(world.audit.events(action="sql.query", actor="analyst1")) == 3
    assert world.audit.verify().ok
    assert world.catalog.usage("ppl.main.people")["consumers"] == ["analyst1"]


def test_one_query_reads_the_change_counter_once(world, analyst, monkeypatch) -> None:
    """The counter is read once per call (engine choice, principal, policy and plan share it), and
    afresh by the next call."""
    world.access.grant("analyst1", "w.people")
    assert names(analyst) == NAMES
    reads = []
    real = cache._read_generation
    monkeypatch.setattr(cache, "_read_generation", lambda store: reads.append(1) or real(store))
    assert analyst.sql(Q, engine="auto").num_rows == 3
    assert len(reads) == 1
    assert analyst.sql(Q, engine="auto").num_rows == 3
    assert len(reads) == 2


def test_a_write_within_one_call_scope_is_seen_by_its_next_read(world, analyst) -> None:
    g = world.access.grant("analyst1", "w.people")
    with world.store.call_scope():
        assert names(analyst) == NAMES
        world.access.revoke(g.id)  # committed inside the scope: the memo is dropped
        with pytest.raises(AccessDenied):
            analyst.sql(Q)


def test_calls_share_a_counter_read_that_started_after_they_asked(monkeypatch) -> None:
    """PostgreSQL: calls needing the counter while a read is in flight wait for it and share the next
    one — never the one in flight, which started before they asked and may miss a commit made since.
    One read for many calls; a failed read leaves the next caller to read for itself."""
    import threading

    started: list[threading.Event] = []
    release: list[threading.Event] = []
    values = iter(range(1, 100))

    def read(_store: object) -> int:
        go, done = threading.Event(), threading.Event()
        started.append(go)
        release.append(done)
        go.set()
        assert done.wait(10)
        value = next(values)
        if value == 3:
            raise OSError("the store went away")
        return value

    monkeypatch.setattr(cache, "_read_generation", read)
    shared = cache._SharedReads()
    got: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            got[name] = shared.read(None)  # type: ignore[arg-type]
        except OSError as exc:
            got[name] = exc

    first = threading.Thread(target=call, args=("first",))
    first.start()
    assert _until(lambda: len(started) == 1)
    later = [threading.Thread(target=call, args=(f"later{i}",)) for i in range(5)]
    for t in later:
        t.start()
    time.sleep(0.2)  # they wait: the read in flight started before them
    assert len(started) == 1
    release[0].set()
    first.join(10)
    assert got["first"] == 1
    assert _until(lambda: len(started) == 2)  # one of them reads, for all of them
    time.sleep(0.2)
    assert len(started) == 2
    release[1].set()
    for t in later:
        t.join(10)
    assert all(got[f"later{i}"] == 2 for i in range(5)), got
    failing = threading.Thread(target=call, args=("failing",))
    failing.start()
    assert _until(lambda: len(started) == 3)
    release[2].set()
    failing.join(10)
    assert isinstance(got["failing"], OSError)
    after = threading.Thread(target=call, args=("after",))
    after.start()
    assert _until(lambda: len(started) == 4)
    release[3].set()
    after.join(10)
    assert got["after"] == 4


def _until(check, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
