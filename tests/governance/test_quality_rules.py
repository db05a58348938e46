"""Quality rules on the demo (SQLite via DuckDB): each kind passing and failing, the GX-DuckDB fix,
fluctuation history, work orders, remedies, bad input."""

from __future__ import annotations

import sqlite3

import pytest

from govfabric.errors import Conflict, NotFound, QualityFailed, ValidationFailed
from govfabric.governance.quality import gx
from govfabric.governance.quality.service import QualityService
from govfabric.identifiers import is_valid_resident_id, is_valid_uscc

A = "mr_db.main.t_qy_jbxx"


def _plant(demo) -> str:
    """A table with planted bad values in the market-regulation SQLite file, harvested."""
    src = demo.catalog.source("mr_db")
    path = src.uri.split(":///", 1)[1]
    con = sqlite3.connect(path)
    good = [r[0] for r in con.execute("SELECT tyshxydm FROM t_qy_jbxx LIMIT 5")]
    ids = [r[0] for r in con.execute("SELECT fddbr_sfzh FROM t_qy_jbxx LIMIT 5")]
    con.execute("DROP TABLE IF EXISTS t_bad")
    con.execute("CREATE TABLE t_bad (tyshxydm TEXT, sfzh TEXT, djzt TEXT, xzqh TEXT, qymc TEXT)")
    rows = [(good[0], ids[0], "存续", "110105", "甲公司"),
            (good[0], ids[1], "存续", "110105", None),  # duplicate code, missing name
            (good[1][:17] + ("0" if good[1][17] != "0" else "1"), ids[2][:17] + ("0" if ids[2][17] != "0" else "1"),
             "存绪", "999999", "乙公司"),
            (good[2], ids[3], "在业", "110101", "丙公司")]
    con.executemany("INSERT INTO t_bad VALUES (?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    demo.catalog.harvest("mr_db")
    return "mr_db.main.t_bad"


@pytest.fixture
def q(demo):
    return QualityService(demo)


def test_rules_pass_on_clean_demo_and_fail_on_planted_rows(demo, q):
    bad = _plant(demo)
    rules = [{"kind": "unique", "columns": ["tyshxydm"]},
             {"kind": "not_null", "column": "qymc", "min_ratio": 0.9},
             {"kind": "format", "column": "tyshxydm", "standard": "uscc"},
             {"kind": "format", "column": "sfzh" , "standard": "resident_id"},
             {"kind": "format", "column": "xzqh", "pattern": "^11[0-9]{4}$"},
             {"kind": "in_set", "column": "djzt", "values": ["存续", "在业", "注销", "吊销", "迁出"]},
             {"kind": "reference", "column": "xzqh", "ref_asset": "ps_db.main.t_dm_xzqh", "ref_column": "dm"}]
    for r in rules:
        q.add_rule(bad, r)
    clean = [r for r in rules if r["kind"] != "format" or r["column"] != "sfzh"]
    for r in clean + [{"kind": "format", "column": "fddbr_sfzh", "standard": "resident_id"}]:
        q.add_rule(A, r if r["kind"] != "not_null" else {**r, "min_ratio": 1.0})
    good = q.run(A)
    res = {r.rule_name: r for r in q.results(good.id)}
    assert good.engine == "duckdb"
    assert all(r.success for r in res.values()), {k: (v.observed, v.message) for k, v in res.items()}
    assert (demo.settings.home / "quality" / "docs" / good.id / "index.html").exists()

    run = q.run(bad)
    res = {r.rule_name: r for r in q.results(run.id)}
    assert not run.success and run.failed == 7
    assert res["unique_tyshxydm"].unexpected_count == 2
    assert res["format_uscc_tyshxydm"].unexpected_count == 1
    assert res["format_resident_id_sfzh"].unexpected_count == 1
    assert res["in_set_djzt"].sample == ["存绪"]
    assert res["reference_xzqh"].unexpected_count == 1
    assert res["format_pattern_xzqh"].unexpected_count == 1
    # the bad resident ID is stored masked, never raw, in results and in the Data Docs
    sample = res["format_resident_id_sfzh"].sample
    assert res["format_resident_id_sfzh"].masked and "*" in sample[0]
    html = "".join(p.read_text(encoding="utf-8", errors="ignore")
                   for p in (demo.settings.home / "quality" / "docs" / run.id).rglob("*.html"))
    con = sqlite3.connect(demo.catalog.source("mr_db").uri.split(":///", 1)[1])
    raw = [r[0] for r in con.execute("SELECT sfzh FROM t_bad")]
    assert not any(v in html or v in str(sample) for v in raw)
    assert "format_resident_id" in str([r.rule_name for r in q.results(run.id)])
    # one work order per failed rule, for the owner department, consumers notified
    orders = q.orders(asset=bad)
    assert len(orders) == 7 and {o.department for o in orders} == {"北京市市场监督管理局"}


def test_gx_on_duckdb_needs_the_fix(demo, q):
    q.add_rule(A, {"kind": "not_null", "column": "qymc", "min_ratio": 1.0})  # a stock GX metric
    gx.use_stock_engine(True)
    try:
        broken = q.run(A, docs=False, work_orders=False)
    finally:
        gx.use_stock_engine(False)
    assert not broken.success  # the upstream bug: empty results → failure
    fixed = q.run(A, docs=False, work_orders=False)
    assert fixed.success


def test_fluctuation_against_history(demo, q, tmp_path):
    bad = _plant(demo)
    q.add_rule(bad, {"kind": "fluctuation", "metric": "row_count", "max_change": 0.2})
    q.add_rule(bad, {"kind": "fluctuation", "metric": "null_ratio", "column": "qymc", "max_change": 0.5})
    first = q.run(bad, docs=False)
    assert first.success  # no history yet: establishes the baseline
    assert q.run(bad, docs=False).success
    path = demo.catalog.source("mr_db").uri.split(":///", 1)[1]
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO t_bad VALUES (?, ?, ?, ?, ?)", [("x", "y", "存续", "110105", None)] * 4)
    con.commit()
    con.close()
    third = q.run(bad, docs=False)
    res = {r.rule_name: r for r in q.results(third.id)}
    assert not res["fluctuation_table"].success and res["fluctuation_table"].observed["value"] == 8
    assert not res["fluctuation_qymc"].success
    hist = q.results(rule=res["fluctuation_table"].rule_id)
    assert [h.metric for h in hist] == [8.0, 4.0, 4.0]
    # the breach is kept in the history but not in the baseline: it cannot make itself normal
    assert not q.run(bad, docs=False, rules=[res["fluctuation_table"].rule_id]).success


def test_work_order_lifecycle(demo, q):
    bad = _plant(demo)
    q.add_rule(bad, {"kind": "in_set", "column": "djzt", "values": ["存续", "在业"]})
    demo.as_user("analyst1").catalog.favorite_add(bad)
    q.run(bad, docs=False)
    (wo,) = q.orders(asset=bad)
    assert wo.status == "open"
    with pytest.raises(Conflict):
        q.fix(wo.number)
    q.start(wo.number, "looking")
    q.fix(wo.number, "claimed fixed")
    with pytest.raises(QualityFailed):
        q.verify(wo.number)  # still failing → back in progress
    assert q.order(wo.number).status == "in_progress"
    path = demo.catalog.source("mr_db").uri.split(":///", 1)[1]
    con = sqlite3.connect(path)
    con.execute("UPDATE t_bad SET djzt = '存续' WHERE djzt = '存绪'")
    con.commit()
    con.close()
    q.fix(wo.number, "corrected")
    done = q.verify(wo.number)
    assert done.status == "verified"
    actions = [e.action for e in demo.audit.events(target=f"work_order:{wo.number}")]
    assert {"quality.order.open", "quality.order.in_progress", "quality.order.fixed",
            "quality.order.verify"} <= set(actions)
    analyst = demo.as_user("analyst1")
    assert any(n.kind == "quality" for n in analyst.catalog.notifications())


def test_remedies(demo, q):
    bad = _plant(demo)
    fixes = q.corrections(bad, "tyshxydm", standard="uscc")
    assert len(fixes) == 1 and all(is_valid_uscc(c) for c in fixes[0]["candidates"])
    ids = q.corrections(bad, "sfzh", standard="resident_id")
    assert len(ids) == 1 and all(is_valid_resident_id(c) for c in ids[0]["candidates"])
    dom = q.corrections(bad, "djzt", domain=["存续", "在业", "注销"])
    assert dom[0]["value"] == "存绪" and dom[0]["candidates"][0] == "存续"
    fill = q.completion(bad, "qymc", "tyshxydm", from_asset=A, from_column="qymc")
    assert len(fill) == 1 and fill[0]["suggested"]
    mode = q.completion(bad, "qymc", "sfzh", group_by="tyshxydm")
    assert mode and mode[0]["suggested"] == "甲公司"
    con = sqlite3.connect(demo.catalog.source("mr_db").uri.split(":///", 1)[1])
    code, name = con.execute("SELECT tyshxydm, qymc FROM t_qy_jbxx LIMIT 1").fetchone()
    dups = q.duplicates(A, {"tyshxydm": code, "qymc": name + "有限"}, ["qymc"], block_on="tyshxydm",
                        prefix=8, threshold=80)
    assert dups and dups[0]["row"]["tyshxydm"] == code
    merges = q.merge_suggestions()
    assert any(set(m["assets"]) == {A, bad} and "80% shared columns" in m["reasons"] for m in merges)


def test_bad_rules_write_nothing(demo, q):
    for bad in [{"kind": "nope"}, {"kind": "unique"}, {"kind": "not_null", "column": "qymc", "extra": 1},
                {"kind": "format", "column": "qymc"}, {"kind": "format", "column": "qymc", "pattern": "("},
                {"kind": "fluctuation", "metric": "mean", "max_change": 0.1},
                {"kind": "not_null", "column": "no_such_column"},
                {"kind": "reference", "column": "xzqh", "ref_asset": "ps_db.main.t_dm_xzqh", "ref_column": "zz"}]:
        with pytest.raises(ValidationFailed):
            q.add_rule(A, bad)
    with pytest.raises(NotFound):
        q.add_rule("no.such.asset", {"kind": "unique", "columns": ["a"]})
    assert q.rules() == []
    with pytest.raises(NotFound):
        q.run(A)


def test_sql_check_characters_agree_with_python_on_duckdb():
    import duckdb
    from quality_corpus import check_corpus

    from govfabric.governance.quality import sqlchecks

    values = check_corpus()
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    for kind, python in (("uscc", is_valid_uscc), ("resident_id", is_valid_resident_id)):
        bad = sqlchecks.invalid(kind, "v").sql("duckdb")
        got = {r[0] for r in con.execute(f"SELECT v FROM t WHERE {bad}").fetchall()}
        assert got == {v for v in values if not python(v)}, kind


def test_unique_is_one_group_by_pass_not_gx_window_scans(demo, q):
    """Uniqueness counts every row of a duplicated value (nulls are not duplicates) with one
    GROUP BY over the table; GX's own metrics ran two ``count(*) OVER (PARTITION BY …)`` scans,
    most of the suite's cost beyond the check characters (benchmarks/quality_pushdown.py)."""
    import sqlalchemy as sa
    from sqlalchemy import event

    bad = _plant(demo)
    q.add_rule(bad, {"kind": "unique", "columns": ["tyshxydm"]})
    q.add_rule(bad, {"kind": "unique", "columns": ["qymc"]})  # unique, one NULL
    seen: list[str] = []

    def log(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(sa.engine.Engine, "before_cursor_execute", log)
    try:
        run = q.run(bad, docs=False, work_orders=False)
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", log)
    res = {r.rule_name: r for r in q.results(run.id)}
    assert res["unique_tyshxydm"].unexpected_count == 2 and not res["unique_tyshxydm"].success
    assert res["unique_qymc"].success and res["unique_qymc"].unexpected_count == 0
    checks = [x for x in seen if "gf_asset" in x]
    assert not [x for x in checks if "OVER" in x.upper()]
    assert sum("GROUP BY" in x.upper() for x in checks) == 2  # one each: fewer failures than the sample size
