"""Search: Chinese substrings, ranking, highlights, recent and hot searches — on both store backends."""

from __future__ import annotations

import json
from functools import partial

import pytest
from infra.alembic_run import run_alembic


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
    assert steward.catalog.search("社保", data_domain="legal_entity") == []  # the filter does not replace the text


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


def _import(steward, tmp_path, rows, name="more.json") -> None:
    f = tmp_path / name
    f.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    steward.catalog.import_file(f)


def _many(steward, tmp_path) -> None:
    """More matches of 登记 than one page and than FEW (200): the ranking takes levels, not all."""
    rows = [{"name": f"zz_{i:03d}", "cn_name": f"其他台账{i:03d}", "owner_department": "民政局",
             "description": f"第{i}号登记信息", "columns": [{"name": "djrq", "cn_name": "登记日期"}]}
            for i in range(230)]
    rows += [
        {"name": "t_dj", "cn_name": "登记", "owner_department": "民政局"},  # equal to the query
        {"name": "djb", "cn_name": "登记簿", "owner_department": "民政局"},  # starts with it
        *({"name": f"bdc_{i}", "cn_name": f"不动产登记{i}", "owner_department": "自然资源局"} for i in range(5)),
        {"name": "qydjxx", "cn_name": "企业登记信息", "owner_department": "市场监管局",
         "data_domain": "legal_entity"},
        {"name": "rq_only", "cn_name": "日历", "owner_department": "民政局",
         "columns": [{"name": "xx", "cn_name": "办结日期"}]},
    ]
    _import(steward, tmp_path, rows)


def test_common_term_ranked_exactly(steward, tmp_path) -> None:
    _many(steward, tmp_path)
    hits = steward.catalog.search("登记")
    assert len(hits) == 20
    assert [h.name for h in hits[:2]] == ["t_dj", "djb"] and [h.score for h in hits[:2]] == [150, 60]
    assert {h.name for h in hits[2:8]} == {"qydjxx", *(f"bdc_{i}" for i in range(5))}
    assert {h.score for h in hits[2:8]} == {40} and {h.score for h in hits[8:]} == {15}  # descriptions
    assert ("cn_name", "<em>登记</em>簿") in hits[1].matches
    assert [h.name for h in steward.catalog.search("登记", data_domain="legal_entity")] == ["qydjxx"]
    assert steward.catalog.search("登记 信息")[0].name == "qydjxx"  # both in the name, among 230 matches
    dates = steward.catalog.search("日期", limit=300)  # only in columns
    assert len(dates) == 231 and {h.score for h in dates} == {5}
    assert [h.name for h in steward.catalog.search("办结")] == ["rq_only"]
    assert len(steward.catalog.search("记", limit=5)) == 5  # one character


def _candidates(fabric, token: str) -> int:
    """Entries the index (not the text) offers for a token: no stale ones after rewrites."""
    from sqlalchemy import text

    with fabric.store.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            return s.scalar(text("SELECT count(*) FROM catalog_search_fts_grams WHERE catalog_search_fts_grams "
                                 "MATCH :q"), {"q": f'"{token}"'})
        return s.scalar(text("SELECT count(*) FROM catalog_search_entries WHERE tokens @> ARRAY[:t]"), {"t": token})


def test_index_follows_annotations_tags_renames_and_drops(steward, tmp_path) -> None:
    import sqlite3

    db = tmp_path / "src.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE qyxx (tyshxydm TEXT, qymc TEXT)")
    con.close()
    steward.catalog.add_source("src", f"sqlite:///{db}")
    steward.catalog.harvest("src")

    def found(q: str) -> list[str]:
        return [h.name for h in steward.catalog.search(q)]

    steward.catalog.annotate("qyxx", cn_name="企业信息表", columns={"qymc": {"cn_name": "企业名称"}})
    assert found("企业信息表") == ["qyxx"] and found("企业名称") == ["qyxx"]
    steward.catalog.annotate("qyxx", cn_name="法人库")
    assert found("企业信息表") == [] and found("法人库") == ["qyxx"] and found("企业名称") == ["qyxx"]
    assert _candidates(steward, "n信息") == 0  # the old name left nothing behind
    steward.catalog.classify("qyxx", tags=["电子证照"])
    assert found("电子证照") == ["qyxx"]
    steward.catalog.classify("qyxx", tags=[])
    assert found("电子证照") == []
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE qyxx RENAME COLUMN tyshxydm TO xydm_new")
    con.close()
    steward.catalog.harvest("src")
    assert found("xydm_new") == ["qyxx"] and found("tyshxydm") == [] and found("法人库") == ["qyxx"]
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE qyxx RENAME TO qyxx_old")
    con.close()
    steward.catalog.harvest("src")  # the table is dropped, another one appears
    assert found("法人库") == [] and found("qyxx_old") == ["qyxx_old"]
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE qyxx_old RENAME TO qyxx")
    con.close()
    steward.catalog.harvest("src")  # back again, with its annotations
    assert found("法人库") == ["qyxx"] and found("qyxx_old") == []
    assert _candidates(steward, "dol") == 0  # nor did the dropped qyxx_old


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    return request.getfixturevalue("make_pg_database")()


def test_upgrade_indexes_assets_registered_before_and_downgrade_restores(blank_store_url) -> None:
    """Migration c93a27fde6a0 builds the entries of a catalog indexed the b1e5a0c0ffee way."""
    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.orm import Session

    from govfabric.catalog.search import search
    from govfabric.store import Store
    from govfabric.store.base import utcnow

    store = Store(blank_store_url)
    migrate = partial(run_alembic, store)
    migrate(command.upgrade, "b1e5a0c0ffee")
    with store.engine.begin() as conn:
        assets = sa.Table("catalog_assets", sa.MetaData(), autoload_with=conn)
        columns = sa.Table("catalog_columns", sa.MetaData(), autoload_with=conn)
        now = utcnow()
        for i, (name, cn, status) in enumerate([("t_yyzz", "企业营业执照信息", "active"),
                                                 ("t_rk", "人口基本信息", "active"),
                                                 ("t_old", "营业执照旧表", "dropped")]):
            conn.execute(assets.insert().values(
                id=f"a{i}", qualified_name=f"manual.{name}", name=name, cn_name=cn, asset_type="table",
                dimensions=[], location={}, tags=[], version=1, status=status, registered_via="import",
                search_text="", created_at=now, updated_at=now))
        conn.execute(columns.insert().values(id="c0", asset_id="a1", position=1, name="sfzh", cn_name="身份证号",
                                             data_type="text", nullable=True, tags=[]))
    store.migrate()
    with Session(store.engine) as s:
        assert [h.name for h in search(s, "营业执照")] == ["t_yyzz"]  # dropped assets are not indexed
        assert [h.name for h in search(s, "人口")] == ["t_rk"] and [h.name for h in search(s, "身份证")] == ["t_rk"]
    migrate(command.downgrade, "b1e5a0c0ffee")
    with store.engine.connect() as conn:
        text_ = conn.scalar(sa.text("SELECT search_text FROM catalog_assets WHERE id = 'a1'"))
        assert "身份证号" in text_ and " 人口 " in text_  # the document and its short pieces, as before
    store.dispose()


def test_a_large_facet_filter_does_not_lead_the_plan(steward, tmp_path, monkeypatch) -> None:
    """A facet holding many assets (the portal's open classes: 40% of 100k) must not drive the
    query: starting from it joins every one of its assets to its entries (50 ms over 20k assets) where
    the entries' name index or the FTS lookup finds the few candidates directly."""
    from sqlalchemy import event, text

    from govfabric.catalog import search as search_mod

    if steward.store.dialect != "sqlite":
        pytest.skip("SQLite's planner: it has no statistics to tell a large facet from a small one")
    _seed(steward, tmp_path)
    with steward.store.session() as s:
        s.execute(text("UPDATE catalog_assets SET open_class = 'open'"))
    monkeypatch.setattr(search_mod, "FACET_FEW", 1)  # as if the facet held more than FACET_FEW assets
    seen: list[tuple[str, object]] = []

    def grab(_conn, _cur, statement, params, *_a) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "catalog_search_entries" in statement:
            seen.append((statement, params))

    event.listen(steward.store.engine, "before_cursor_execute", grab)
    try:
        hits = steward.catalog.search("营业执照", log=False, open_class=["open", "conditional_open"])
        steward.catalog.search("yyzz", log=False, open_class="open")
    finally:
        event.remove(steward.store.engine, "before_cursor_execute", grab)
    assert [h.name for h in hits] == ["yyzz", "t_yyzz", "t_rk"]  # the same hits as unfiltered
    assert len(seen) >= 4
    with steward.store.engine.connect() as c:
        for statement, params in seen:
            plan = " | ".join(str(r[3]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert "open_class" not in plan, (statement, plan)


def test_tokens_cut_once_per_word_are_every_piece_of_every_word() -> None:
    """``Tokens`` reuses the pieces of a word it has cut (a harvest's tables share column names and
    comments): every entry still gets exactly each field's 1- and 2-character pieces, prefixed."""
    from govfabric.catalog.search_index import SEPARATORS, Entry, Tokens

    def pieces(field: str, text: str) -> set[str]:
        return {field + w[i:i + n] for w in SEPARATORS.split(text) for n in (1, 2) for i in range(len(w) - n + 1)}

    entries = [Entry("a", "src.s.t_1", "t_1", "企业登记信息", "",
                     "src.s.t_1 t_1 企业登记信息 c01 统一社会信用代码 c02"),
               Entry("b", "src.s.t_2", "t_2", "", "营业执照 x", "src.s.t_2 t_2 c01 统一社会信用代码 c02 营业执照 x"),
               Entry("c", "src.s.t_3", "t_3", "企业", "t_3 ab", "src.s.t_3 t_3 企业 \U00020000字 c01-c02 a")]
    tokens = Tokens()
    for e in entries * 2:
        got = tokens(e)
        assert len(got) == len(set(got))
        assert set(got) == pieces("n", f"{e.name} {e.cn}") | pieces("s", e.descr) | pieces("d", e.doc)
        assert set(e.tokens()) == set(got)


@pytest.mark.postgres
def test_tokens_are_compared_bytewise_and_found_as_before(make_pg_database) -> None:
    """Migration 7c3f9a1e5d28: the token array's collation is ``C`` (its GIN index compares keys by
    ``memcmp``), a search by bound token arrays still uses that index and finds the entry; downgrading
    gives the database's default collation back, the entries kept."""
    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.orm import Session

    from govfabric.catalog.search import search
    from govfabric.catalog.search_index import add_entries, entry
    from govfabric.store import Store

    store = Store(make_pg_database())
    store.migrate()
    collation = sa.text("SELECT c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation "
                        "WHERE a.attrelid = 'catalog_search_entries'::regclass AND a.attname = 'tokens'")
    asset = {"id": "a0", "qualified_name": "manual.t_yyzz", "name": "t_yyzz", "cn_name": "企业营业执照信息"}
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO catalog_assets (id, qualified_name, name, cn_name, asset_type, dimensions, "
                             "location, tags, version, status, registered_via, created_at, updated_at) VALUES "
                             "('a0', 'manual.t_yyzz', 't_yyzz', '企业营业执照信息', 'table', '[]', '{}', '[]', 1, "
                             "'active', 'import', now(), now())"))
        add_entries(conn, [entry(asset, [{"name": "sfzh", "cn_name": "身份证号"}])])
        assert conn.scalar(collation) == "C"
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = "\n".join(conn.exec_driver_sql("EXPLAIN SELECT id FROM catalog_search_entries WHERE tokens @> %(t)s",
                                              {"t": ["d营业", "d执照"]}).scalars())
        assert "ix_catalog_search_entries_tokens" in plan
    with Session(store.engine) as s:
        assert [h.name for h in search(s, "营业执照")] == [h.name for h in search(s, "身份证")] == ["t_yyzz"]
    run_alembic(store, command.downgrade, "4d7e1b2c9a05")
    with store.engine.connect() as conn:
        assert conn.scalar(collation) == "default"
    with Session(store.engine) as s:
        assert [h.name for h in search(s, "营业执照")] == ["t_yyzz"]
    store.dispose()
