"""The virtual SQL layer end to end on the demo workspace (DuckDB): virtual tables and views,
apply → approve → grant, masks and row filters, recording, bad input."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from govfabric.errors import AccessDenied, NotFound, QueryRejected, SourceError, ValidationFailed
from govfabric.store.base import utcnow
from govfabric.virtualization.models import Grant

ENTERPRISE = dict(renames={"tyshxydm": "credit_code", "qymc": "enterprise_name", "qx": "district",
                           "fddbr": "legal_rep", "fddbr_sfzh": "legal_rep_id", "zczb": "capital"},
                  only=["tyshxydm", "qymc", "qx", "fddbr", "fddbr_sfzh", "zczb", "xzqh"])


@pytest.fixture
def vt(demo):
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    ps = demo.as_user("steward_ps")
    ps.virtual.create_table("security.person", "ps_db.main.t_rk_jbxx",
                            renames={"gmsfhm": "id_number", "xm": "name", "sjhm": "mobile", "hjdz": "address"})
    return demo


def test_owner_steward_reads_own_department_only(vt) -> None:
    n = vt.sql("SELECT count(*) AS n FROM market.enterprise").column("n")[0].as_py()
    assert n == vt.catalog.asset("mr_db.main.t_qy_jbxx").row_count
    with pytest.raises(AccessDenied, match="no grant on security.person"):
        vt.sql("SELECT * FROM security.person")


def test_apply_approve_grant_then_only_granted_columns(vt) -> None:
    analyst = vt.as_user("analyst1")
    with pytest.raises(AccessDenied, match="access request market.enterprise"):
        analyst.sql("SELECT enterprise_name FROM market.enterprise")
    req = analyst.access.request("market.enterprise", columns=["enterprise_name", "district"],
                                 purpose="区域经济分析", until=None)
    with pytest.raises(AccessDenied, match="own request"):
        analyst.access.approve(req.id)
    with pytest.raises(AccessDenied, match="only a steward"):
        vt.as_user("steward_ps").access.approve(req.id)
    grant = vt.access.approve(req.id)
    t = analyst.sql("SELECT district, count(*) AS n FROM market.enterprise GROUP BY district ORDER BY n DESC")
    assert t.num_rows > 5 and t.column_names == ["district", "n"]
    assert analyst.sql("SELECT * FROM market.enterprise LIMIT 1").column_names == ["enterprise_name", "district"]
    with pytest.raises(AccessDenied, match="capital"):
        analyst.sql("SELECT capital FROM market.enterprise")
    with pytest.raises(ValidationFailed, match="already approved"):
        vt.access.approve(req.id)
    actions = [e.action for e in vt.as_user("admin").audit.events()]  # a steward sees only its own events
    assert {"access.request", "access.approve", "sql.query", "sql.denied"} <= set(actions)
    assert vt.catalog.usage("mr_db.main.t_qy_jbxx")["consumers"] == ["analyst1"]
    # revoked mid-session: the next query of the same session is refused
    vt.access.revoke(grant.id, "project ended")
    with pytest.raises(AccessDenied):
        analyst.sql("SELECT district FROM market.enterprise")


def test_expired_grant_and_rejection(vt) -> None:
    analyst = vt.as_user("analyst1")
    g = vt.access.grant("analyst1", "market.enterprise", columns=["district"])
    assert analyst.sql("SELECT count(DISTINCT district) AS n FROM market.enterprise").num_rows == 1
    with vt.store.session() as s:
        s.execute(update(Grant).where(Grant.id == g.id).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(AccessDenied):
        analyst.sql("SELECT district FROM market.enterprise")
    req = analyst.access.request("security.person", columns=["name"], purpose="人口统计", until=None)
    with pytest.raises(ValidationFailed, match="reason"):
        vt.as_user("steward_ps").access.reject(req.id, "")
    vt.as_user("steward_ps").access.reject(req.id, "不符合最小必要原则")
    assert analyst.access.requests(mine=True)[-1].status == "rejected"


def test_masks_hold_in_where_join_and_aggregates(vt) -> None:
    analyst = vt.as_user("analyst1")
    real_id = vt.sql("SELECT legal_rep_id FROM market.enterprise LIMIT 1").column(0)[0].as_py()
    vt.access.grant("analyst1", "market.enterprise", columns=["enterprise_name", "legal_rep_id", "legal_rep"])
    vt.access.set_mask("market.enterprise", "legal_rep_id", "resident_id")
    vt.access.set_mask("market.enterprise", "legal_rep", "cn_name")
    shown = analyst.sql("SELECT legal_rep_id, legal_rep FROM market.enterprise LIMIT 50").to_pylist()
    assert all(r["legal_rep_id"] is None or "********" in r["legal_rep_id"] for r in shown)
    assert all(r["legal_rep"] is None or "*" in r["legal_rep"] for r in shown)
    assert analyst.sql(f"SELECT * FROM market.enterprise WHERE legal_rep_id = '{real_id}'").num_rows == 0
    assert analyst.sql("SELECT count(DISTINCT legal_rep_id) AS n FROM market.enterprise").column(0)[0].as_py() < \
        vt.sql("SELECT count(DISTINCT legal_rep_id) AS n FROM market.enterprise").column(0)[0].as_py()
    # an explicit unmasked grant shows the real value
    vt.access.grant("analyst1", "market.enterprise", columns=["legal_rep_id"], unmasked=["legal_rep_id"])
    assert analyst.sql(f"SELECT count(*) FROM market.enterprise WHERE legal_rep_id = '{real_id}'").column(0)[0] \
        .as_py() >= 1


def test_row_filters_use_principal_attributes(vt) -> None:
    analyst = vt.as_user("analyst1")  # attribute region=110105 (朝阳区)
    vt.access.grant("analyst1", "market.enterprise", columns=["enterprise_name", "district"],
                    row_filter="xzqh = principal_attr('region')")
    districts = {r["district"] for r in analyst.sql("SELECT DISTINCT district FROM market.enterprise").to_pylist()}
    assert districts == {"朝阳区"}
    vt.access.add_row_filter("market.enterprise", "*", "capital > 100")
    before = analyst.sql("SELECT count(*) AS n FROM market.enterprise").column(0)[0].as_py()
    assert before < 428 and before > 0


def test_cross_department_join(vt) -> None:
    analyst = vt.as_user("analyst1")
    vt.access.grant("analyst1", "market.enterprise", columns=["enterprise_name", "legal_rep_id"])
    g = vt.as_user("steward_ps").access.grant("analyst1", "security.person", columns=["id_number", "name"])
    query = ("SELECT e.enterprise_name, p.name FROM market.enterprise e "
             "JOIN security.person p ON p.id_number = e.legal_rep_id WHERE p.name LIKE '刘%'")
    # personal columns were classified at harvest and are masked by default
    names = {r["name"] for r in analyst.sql(query).to_pylist()}
    assert names and all(n.startswith("刘") and "*" in n for n in names)
    vt.as_user("steward_ps").access.revoke(g.id)
    vt.access.grant("analyst1", "market.enterprise", columns=["legal_rep_id"], unmasked=["legal_rep_id"])
    vt.as_user("steward_ps").access.grant("analyst1", "security.person", columns=["id_number", "name"],
                                          unmasked=["id_number", "name"])
    t = analyst.sql(query.replace("LIKE '刘%'", "= '刘䶮'"))
    assert t.num_rows >= 1 and t.column(1)[0].as_py() == "刘䶮"


def test_files_are_virtual_tables_too(demo) -> None:
    f = demo
    admin = f.as_user("admin")  # the files belong to other departments: their tables are an admin's to create
    csv_asset = next(a for a in f.catalog.assets(source="social_files") if "1-6" in a.name)
    admin.virtual.create_table("social.contrib_h1", csv_asset.qualified_name,
                           renames={"公民身份号码": "id_number", "姓名": "name",
                                    "养老保险单位缴费": "pension_employer"},
                           only=["公民身份号码", "姓名", "养老保险单位缴费"])
    admin.virtual.create_table("tax.payments", "tax_files.纳税信息.纳税明细",
                           renames={"统一社会信用代码": "credit_code", "实缴金额（元）": "amount"},
                           only=["统一社会信用代码", "实缴金额（元）"])
    admin.virtual.create_table("licence.elicence", "licence_files.电子证照", only=["licence_type", "holder_name"])
    steward_hr = f.as_user("admin")
    for t in ("social.contrib_h1", "tax.payments", "licence.elicence"):
        # created by an admin, the tables got their default masks: names are granted in clear
        steward_hr.access.grant("steward_mr", t, unmasked=["name"] if t == "social.contrib_h1" else None)
    rows = f.sql("SELECT name, count(*) AS n FROM social.contrib_h1 WHERE name = '刘䶮' GROUP BY name").to_pylist()
    assert rows and rows[0]["name"] == "刘䶮"
    assert f.sql("SELECT sum(amount) AS s FROM tax.payments").column(0)[0].as_py() > 0
    assert f.sql("SELECT count(*) FROM licence.elicence WHERE licence_type = '营业执照'").column(0)[0].as_py() > 0


def test_physical_rename_absorbed_by_remap_and_views_flagged(demo, tmp_path: Path) -> None:
    db = tmp_path / "src.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (qymc TEXT, zczb REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [("甲", 1.0), ("乙", 2.0), ("丙", 3.5)])
    con.commit()
    con.close()
    demo.catalog.add_source("own", f"sqlite:///{db}")
    demo.catalog.harvest("own")
    demo.virtual.create_table("own.firm", "own.main.t", renames={"qymc": "name", "zczb": "capital"})
    demo.virtual.create_view("own.big", "SELECT name FROM own.firm WHERE capital > 1.5")
    query = "SELECT name, capital FROM own.firm ORDER BY name"
    before = demo.sql(query).to_pylist()
    assert [r["name"] for r in demo.sql("SELECT * FROM own.big ORDER BY name").to_pylist()] == ["丙", "乙"]
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE t RENAME COLUMN zczb TO zczb_wy")
    con.commit()
    con.close()
    demo.catalog.harvest("own")
    assert {v.name: v.status for v in demo.virtual.tables()}["own.firm"] == "broken"
    with pytest.raises(QueryRejected, match="broken.*zczb"):
        demo.sql(query)
    assert {v.name: v.status for v in demo.virtual.views()}["own.big"] == "broken"
    demo.virtual.remap("own.firm", {"capital": "zczb_wy"})
    assert demo.sql(query).to_pylist() == before
    assert {v.name: v.status for v in demo.virtual.views()}["own.big"] == "ok"
    v2 = demo.virtual.create_view("own.big", "SELECT name, capital FROM own.firm WHERE capital > 3",
                                  replace=True)
    assert v2.version == 2 and [v.version for v in demo.virtual.view_versions("own.big")] == [1, 2]


def test_row_limit_timeout_and_unreachable_source(demo, tmp_path: Path) -> None:
    demo.virtual.create_table("market.enterprise", "mr_db.main.t_qy_jbxx", **ENTERPRISE)
    demo.settings.query_row_limit = 100
    with pytest.raises(QueryRejected, match="row limit"):
        demo.sql("SELECT * FROM market.enterprise")
    demo.settings.query_row_limit = 10_000_000
    demo.settings.query_timeout_s = 0.3
    with pytest.raises(QueryRejected, match="timeout"):
        demo.sql("SELECT count(*) FROM market.enterprise a, market.enterprise b, market.enterprise c "
                 "WHERE a.capital + b.capital > c.capital")
    demo.settings.query_timeout_s = 60
    assert demo.sql("SELECT count(*) FROM market.enterprise").num_rows == 1  # still healthy
    demo.catalog.add_source("deadpg", "postgresql://u:pw@127.0.0.1:1/db")
    from govfabric.catalog.models import Asset

    with demo.store.session() as s:  # an asset registered earlier, now unreachable
        src = demo.catalog.source("deadpg", s)
        s.add(Asset(qualified_name="deadpg.public.t", source_id=src.id, name="t", owner_department=src.department,
                    location={"schema": "public", "table": "t"}))
    with demo.store.session() as s:
        from govfabric.catalog.models import AssetColumn

        a = demo.catalog.resolve(s, "deadpg.public.t")
        s.add(AssetColumn(asset_id=a.id, position=1, name="x", data_type="int"))
    demo.virtual.create_table("dead.t", "deadpg.public.t")
    with pytest.raises(SourceError, match="unreachable"):
        demo.sql("SELECT * FROM dead.t")
    assert demo.sql("SELECT count(*) FROM market.enterprise").num_rows == 1


def test_bad_definitions(demo) -> None:
    with pytest.raises(ValidationFailed, match="schema.name"):
        demo.virtual.create_table("Bad Name", "mr_db.main.t_qy_jbxx")
    with pytest.raises(ValidationFailed, match="no column"):
        demo.virtual.create_table("m.x", "mr_db.main.t_qy_jbxx", renames={"nope": "x"})
    with pytest.raises(NotFound):
        demo.virtual.create_table("m.x", "nope.nope")
    demo.virtual.create_table("m.x", "mr_db.main.t_qy_jbxx", only=["qymc"])
    with pytest.raises(QueryRejected, match="unknown table m.y"):
        demo.virtual.create_view("m.v", "SELECT * FROM m.y")
    with pytest.raises(ValidationFailed, match="mask rule"):
        demo.access.set_mask("m.x", "qymc", "nope")
    with pytest.raises(ValidationFailed, match="not a SQL condition|subqueries"):
        demo.access.add_row_filter("m.x", "*", "qymc IN (SELECT 1)")
    with pytest.raises(AccessDenied):
        demo.as_user("analyst1").virtual.create_table("m.z", "mr_db.main.t_qy_jbxx")
