"""Search: Chinese substrings, ranking, highlights, recent and hot searches — on both store backends."""

from __future__ import annotations

import json


def _seed(steward, tmp_path) -> None:
    rows = [
        {"name": "t_yyzz", "cn_name": "企业营业执照信息", "owner_department": "市场监管局",
         "data_domain": "legal_entity",
         "columns": [{"name": "tyshxydm", "cn_name": "统一社会信用代码"}, {"name": "qymc", "cn_name": "企业名称"}]},
        {"name": "yyzz", "cn_name": "营业执照", "owner_department": "市场监管局", "tags": ["证照"]},
        {"name": "t_rk", "cn_name": "人口基本信息", "owner_department": "公安局",
         "description": "户籍人口, 含营业执照持有人", "data_domain": "natural_person",
         "columns": [{"name": "sfzh", "cn_name": "身份证号"}]},
        {"name": "t_sb", "cn_name": "社保缴费记录", "owner_department": "人社局",
         "columns": [{"name": "jfje", "cn_name": "缴费金额"}, {"name": "percent_x", "cn_name": "比例"}]},
    ]
    f = tmp_path / "seed.json"
    f.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    steward.catalog.import_file(f)


def test_chinese_substring_ranked_and_highlighted(steward, tmp_path) -> None:
    _seed(steward, tmp_path)
    hits = steward.catalog.search("营业执照")
    assert [h.name for h in hits] == ["yyzz", "t_yyzz", "t_rk"]  # exact > contains > description
    assert ("cn_name", "企业<em>营业执照</em>信息") in hits[1].matches
    assert any(f == "description" for f, _ in hits[2].matches)


def test_columns_two_characters_and_several_terms(steward, tmp_path) -> None:
    _seed(steward, tmp_path)
    assert [h.name for h in steward.catalog.search("身份证")] == ["t_rk"]
    assert {h.name for h in steward.catalog.search("企业")} == {"t_yyzz"}
    assert [h.name for h in steward.catalog.search("缴费 人社局")] == []  # department is not text
    assert [h.name for h in steward.catalog.search("社保 缴费金额")] == ["t_sb"]
    assert [h.name for h in steward.catalog.search("TYSHXYDM")] == ["t_yyzz"]  # case-insensitive
    assert steward.catalog.search("percent_x")[0].name == "t_sb"
    assert steward.catalog.search("100%") == []  # wildcards are literal
    assert [h.name for h in steward.catalog.search("营业执照", data_domain="自然人")] == ["t_rk"]


def test_recent_and_hot_searches(steward, analyst, tmp_path) -> None:
    _seed(steward, tmp_path)
    for q in ("营业执照", "身份证", "营业执照", "无此资产"):
        analyst.catalog.search(q)
    steward.catalog.search("营业执照")
    assert analyst.catalog.recent_searches()[:3] == ["无此资产", "营业执照", "身份证"]
    assert steward.catalog.recent_searches() == ["营业执照"]
    assert steward.catalog.hot_searches()[0] == ("营业执照", 3)
    assert "无此资产" not in dict(steward.catalog.hot_searches())  # no results, not hot


def test_dropped_assets_are_not_found(steward, tmp_path) -> None:
    import sqlite3

    db = tmp_path / "x.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE zzzq_unique (a int)")
    con.close()
    steward.catalog.add_source("x", f"sqlite:///{db}")
    steward.catalog.harvest("x")
    assert steward.catalog.search("zzzq_unique")
    con = sqlite3.connect(db)
    con.execute("DROP TABLE zzzq_unique")
    con.close()
    steward.catalog.harvest("x")
    assert steward.catalog.search("zzzq_unique") == []
