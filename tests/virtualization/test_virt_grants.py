"""Grants never widen (issue 10, hole 2): an analyst's own grant and a grant to their role are
not merged into one; each value is shown only where one grant covering its column holds on its
row. The exact attack, through the real workspace on DuckDB and on the real Trino."""

from __future__ import annotations

from typing import Any

import pytest
from test_virt_service import ENTERPRISE
from test_virt_trino import world  # noqa: F401  (the module-scoped PostgreSQL + Trino workspace)

GRANT_A = dict(columns=["legal_rep_id", "enterprise_name", "district"], row_filter="xzqh = '110105'")


def _in_region(f: Any, column: str) -> list[Any]:
    """What the steward (owner, full access) sees of ``column`` in region 110105."""
    return f.sql(f"SELECT {column} FROM market.enterprise WHERE xzqh = '110105'").column(0).to_pylist()


def test_own_grant_and_role_grant_do_not_combine(demo) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    total = demo.sql("SELECT count(*) FROM market.enterprise").column(0)[0].as_py()
    names, ids = _in_region(demo, "enterprise_name"), _in_region(demo, "legal_rep_id")
    assert 0 < len(names) < total
    demo.access.grant("analyst1", "market.enterprise", **GRANT_A)
    demo.access.grant("role:analyst", "market.enterprise", columns=["district"])
    analyst = demo.as_user("analyst1")

    rows = analyst.sql("SELECT enterprise_name, legal_rep_id, district FROM market.enterprise").to_pylist()
    assert len(rows) == total  # grant B shows every row's district…
    assert len({r["district"] for r in rows}) > 1
    shown = [r for r in rows if r["enterprise_name"] is not None or r["legal_rep_id"] is not None]
    # …but names and ids only on grant A's rows
    assert sorted(r["enterprise_name"] for r in shown) == sorted(n for n in names if n is not None)
    assert sum(1 for r in shown if r["legal_rep_id"]) == sum(1 for i in ids if i)  # (masked by default)
    assert all(r["district"] == "朝阳区" for r in shown)
    n = analyst.sql("SELECT count(*) FROM market.enterprise WHERE district <> '朝阳区' AND "
                    "(enterprise_name IS NOT NULL OR legal_rep_id IS NOT NULL)").column(0)[0].as_py()
    assert n == 0


def test_unmasked_in_one_grant_stays_on_its_rows(demo) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    ids = {i for i in _in_region(demo, "legal_rep_id") if i}
    demo.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    demo.access.grant("analyst1", "market.enterprise", **GRANT_A, unmasked=["legal_rep_id"])
    demo.access.grant("role:analyst", "market.enterprise", columns=["district", "legal_rep_id"])
    rows = demo.as_user("analyst1").sql("SELECT legal_rep_id, district FROM market.enterprise").to_pylist()
    clear = {r["legal_rep_id"] for r in rows if r["legal_rep_id"] and "*" not in r["legal_rep_id"]}
    assert clear == ids  # in clear exactly on grant A's rows
    outside = [r["legal_rep_id"] for r in rows if r["district"] != "朝阳区" and r["legal_rep_id"]]
    assert outside and all("********" in i for i in outside)  # masked elsewhere (grant B)


@pytest.mark.trino
@pytest.mark.postgres
def test_own_grant_and_role_grant_do_not_combine_on_trino(world: Any) -> None:  # noqa: F811
    # world: analyst1's grant on market.enterprise has the row filter region = 110105 (their region)
    g = world.access.grant("role:analyst", "market.enterprise", columns=["district"])
    try:
        analyst = world.as_user("analyst1")
        total = world.sql("SELECT count(*) FROM market.enterprise").column(0)[0].as_py()
        mine = world.sql("SELECT count(*) FROM market.enterprise WHERE region = '110105'").column(0)[0].as_py()
        assert 0 < mine < total
        q = ("SELECT count(*) AS n, count(enterprise_name) AS names, count(legal_rep_id) AS ids, "
             "count(DISTINCT district) AS districts, "
             "count(CASE WHEN district <> '朝阳区' THEN enterprise_name END) AS leaked FROM market.enterprise")
        for engine in ("duckdb", "trino"):
            got = analyst.sql(q, engine=engine).to_pylist()[0]
            assert got["n"] == total and got["districts"] > 1, (engine, got)
            assert got["leaked"] == 0 and 0 < got["names"] <= mine and got["ids"] <= mine, (engine, got)
    finally:
        world.access.revoke(g.id)


def test_one_grant_keeps_the_plain_shape_several_get_case() -> None:
    from virt_world import plan_one_grant

    from govfabric.virtualization.policy import GrantPart, MaskSpec, TableGrant, VirtualColumn, VirtualTable

    vt = VirtualTable("ps.person", {"duckdb": ("memory", "main", "p")},
                      (VirtualColumn("id_no", physical="sfz"), VirtualColumn("name", physical="xm"),
                       VirtualColumn("district", physical="qx")))
    a = GrantPart(frozenset({"id_no", "name", "district"}), "district = '110105'", frozenset({"name"}))
    b = GrantPart(frozenset({"district"}))

    def sql(*parts: GrantPart) -> str:
        grant = TableGrant(masks={"name": MaskSpec("full")}, parts=parts)
        return plan_one_grant(vt, grant, "SELECT * FROM ps.person").sql

    one = sql(a)
    assert "CASE WHEN (\"qx\" = '110105')" not in one and "WHERE (\"qx\" = '110105')" in one
    assert '"xm" AS "name"' in one  # unmasked by the one grant that shows it
    two = sql(a, b)
    assert "WHERE" not in two  # grant B shows every row (its district)…
    assert "CASE WHEN (\"qx\" = '110105') THEN \"sfz\" END AS \"id_no\"" in two  # …grant A only its own
    assert '"qx" AS "district"' in two
