"""Quality rules pushed down to each engine a workspace can use — PostgreSQL itself, DuckDB
(through its postgres extension) and a real Trino — on the same PostgreSQL tables with
planted defects: every rule gives the same verdict, count and sample on all three.
Plus the engine choice (auto, explicit, refused) and failures that must say what went wrong."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest
from infra.services import require_trino_url
from quality_corpus import check_corpus

from govfabric.errors import ConfigError, SourceError, ValidationFailed
from govfabric.governance.quality.service import QualityService
from govfabric.identifiers import generate_resident_id, generate_uscc, is_valid_resident_id, is_valid_uscc

pytestmark = [pytest.mark.postgres, pytest.mark.trino]

RULES: list[dict[str, Any]] = [
    {"kind": "unique", "columns": ["tyshxydm"]},
    {"kind": "unique", "columns": ["tyshxydm", "sfzh"], "name": "unique_code_person"},
    {"kind": "not_null", "column": "qymc", "min_ratio": 0.95},
    {"kind": "format", "column": "tyshxydm", "standard": "uscc"},
    {"kind": "format", "column": "sfzh", "standard": "resident_id"},
    {"kind": "format", "column": "xzqh", "pattern": "^11[0-9]{4}$"},
    {"kind": "in_set", "column": "djzt", "values": ["存续", "在业", "注销", "吊销", "迁出"]},
    {"kind": "reference", "column": "xzqh", "ref_asset": "qa_pg.qa.t_dm_xzqh", "ref_column": "dm"},
    {"kind": "fluctuation", "metric": "row_count", "max_change": 0.1},
    {"kind": "fluctuation", "metric": "mean", "column": "zczb", "max_change": 0.5},
    {"kind": "fluctuation", "metric": "null_ratio", "column": "qymc", "max_change": 0.5},
]
ASSET = "qa_pg.qa.t_qy"


def _flip(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


@pytest.fixture
def qa(demo, make_pg_database):
    """The demo workspace with a PostgreSQL source holding 40 enterprises, 4 of them defective."""
    import psycopg

    url = make_pg_database()
    rng = random.Random(40756)
    rows = []
    for i in range(40):
        region = ["110101", "110102", "110105", "110108"][i % 4]
        rows.append([generate_uscc(rng, region),
                     generate_resident_id(rng, region, date(1970 + i, 1 + i % 12, 1 + i % 28), "男女"[i % 2]),
                     ["存续", "在业"][i % 2], region, f"企业{i:02d}有限公司", 100 + i * 10])
    rows[1][0] = rows[0][0]  # a duplicate credit code
    rows[2][0] = _flip(rows[2][0])  # a wrong check character
    rows[3][1] = _flip(rows[3][1])  # a wrong resident-ID check character
    rows[4][2], rows[4][3], rows[4][4] = "存绪", "999999", None  # typo, unknown region, missing name
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE SCHEMA qa")
        con.execute("CREATE TABLE qa.t_qy (tyshxydm text, sfzh text, djzt text, xzqh text, qymc text, "
                    "zczb numeric(18,2))")
        con.execute("CREATE TABLE qa.t_dm_xzqh (dm text PRIMARY KEY, mc text)")
        con.execute("CREATE TABLE qa.t_codes (v text)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO qa.t_codes VALUES (%s)", [(v,) for v in check_corpus()])
            cur.executemany("INSERT INTO qa.t_qy VALUES (%s, %s, %s, %s, %s, %s)", rows)
            cur.executemany("INSERT INTO qa.t_dm_xzqh VALUES (%s, %s)",
                            [("110101", "东城区"), ("110102", "西城区"), ("110105", "朝阳区"), ("110108", "海淀区")])
    demo.catalog.add_source("qa_pg", url)
    demo.catalog.harvest("qa_pg")
    q = QualityService(demo)
    for r in RULES:
        q.add_rule(ASSET, r)
    yield demo, q, url, rows
    if demo.settings.trino_url:
        from govfabric.virtualization.engines.trino import TrinoEngine

        TrinoEngine.for_fabric(demo).drop_catalogs([demo.catalog.source("qa_pg")])


def _verdicts(q: QualityService, run_id: str) -> dict[str, tuple[bool, Any, Any, list]]:
    def norm(v: Any) -> Any:
        return round(float(v), 6) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return {r.rule_name: (r.success, r.unexpected_count, norm(r.observed.get("value")), sorted(map(str, r.sample)))
            for r in q.results(run_id)}


def test_same_verdicts_on_postgresql_duckdb_and_trino(qa):
    import psycopg

    demo, q, url, rows = qa
    demo.settings.trino_url = require_trino_url()
    runs = {}
    for engine in ("postgresql", "duckdb", "trino"):
        first = q.run(ASSET, engine=engine, docs=False, work_orders=False)
        assert first.engine == engine
        runs[engine] = _verdicts(q, first.id)
    with psycopg.connect(url) as con:  # every run closed its connection to the source
        assert con.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'govfabric-quality'"
                           ).fetchone() == (0,)
    pg = runs["postgresql"]
    assert pg == runs["duckdb"] == runs["trino"], {e: {k: v for k, v in r.items() if v != pg[k]}
                                                   for e, r in runs.items()}
    failed = {k for k, v in pg.items() if not v[0]}
    assert failed == {"unique_tyshxydm", "format_uscc_tyshxydm", "format_resident_id_sfzh", "format_pattern_xzqh",
                      "in_set_djzt", "reference_xzqh"}
    assert pg["unique_tyshxydm"][1] == 2 and pg["format_uscc_tyshxydm"][1] == 1
    assert pg["in_set_djzt"][3] == ["存绪"] and pg["reference_xzqh"][3] == ["9****9"]  # digit runs are masked
    assert pg["not_null_qymc"][:2] == (True, 1)
    assert pg["fluctuation_table"][2] == 40
    # fluctuation history accumulated from all three runs, whatever the engine
    hist = [r.metric for r in q.results(rule="fluctuation_zczb")]
    assert len(hist) == 3 and len({round(h, 6) for h in hist}) == 1
    assert hist[0] == pytest.approx(sum(r[5] for r in rows) / len(rows))


def test_check_characters_agree_with_python_on_every_engine(qa):
    demo, q, _, _ = qa
    demo.settings.trino_url = require_trino_url()
    values = check_corpus()
    want = {"format_uscc_v": sum(not is_valid_uscc(v) for v in values),
            "format_resident_id_v": sum(not is_valid_resident_id(v) for v in values)}
    q.add_rule("qa_pg.qa.t_codes", {"kind": "format", "column": "v", "standard": "uscc"})
    q.add_rule("qa_pg.qa.t_codes", {"kind": "format", "column": "v", "standard": "resident_id"})
    for engine in ("postgresql", "duckdb", "trino"):
        run = q.run("qa_pg.qa.t_codes", engine=engine, docs=False, work_orders=False)
        assert {r.rule_name: r.unexpected_count for r in q.results(run.id)} == want, engine


def test_fluctuation_breach_detected_on_trino_and_work_order_verified(qa):
    import psycopg

    demo, q, url, _ = qa
    demo.settings.trino_url = require_trino_url()
    demo.settings.default_engine = "trino"
    q.run(ASSET, engine="trino", docs=False, work_orders=False)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("INSERT INTO qa.t_qy SELECT * FROM qa.t_qy")  # the table doubled overnight
    run = q.run(ASSET, rules=["fluctuation_table"])  # auto → trino (the default engine)
    assert run.engine == "trino" and not run.success
    (order,) = [o for o in q.orders(asset=ASSET) if o.details["rule"] == "fluctuation_table"]
    assert order.details["engine"] == "trino"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DELETE FROM qa.t_qy WHERE ctid IN (SELECT ctid FROM qa.t_qy OFFSET 40)")
    q.start(order.number)
    q.fix(order.number, "duplicate load rolled back")
    assert q.verify(order.number).status == "verified"


def test_engine_choice_and_refusals(qa, demo):
    _, q, _, _ = qa
    demo.settings.trino_url = None
    demo.settings.default_engine = "duckdb"
    assert q.run(ASSET, docs=False, work_orders=False, rules=["not_null_qymc"]).engine == "postgresql"
    q.add_rule("mr_db.main.t_qy_jbxx", {"kind": "not_null", "column": "qymc"})
    assert q.run("mr_db.main.t_qy_jbxx", docs=False, work_orders=False).engine == "duckdb"
    with pytest.raises(ValidationFailed, match="not PostgreSQL"):
        q.run("mr_db.main.t_qy_jbxx", engine="postgresql")
    with pytest.raises(ValidationFailed, match=r"Trino cannot read mr_db \(sqlite\)"):
        q.run("mr_db.main.t_qy_jbxx", engine="trino")
    with pytest.raises(ValidationFailed, match="unknown"):
        q.run(ASSET, engine="spark")
    with pytest.raises(ConfigError, match="trino_url"):
        q.run(ASSET, engine="trino")
    # a reference across sources cannot run on PostgreSQL alone; auto falls back to DuckDB
    q.add_rule(ASSET, {"kind": "reference", "column": "xzqh", "ref_asset": "ps_db.main.t_dm_xzqh", "ref_column": "dm",
                       "name": "ref_other_source"})
    with pytest.raises(ValidationFailed, match="another source"):
        q.run(ASSET, engine="postgresql", rules=["ref_other_source"])
    assert q.run(ASSET, rules=["ref_other_source"], docs=False, work_orders=False).engine == "duckdb"


def test_unreachable_source_fails_clearly_on_every_engine(qa, pg_url):
    import psycopg
    from psycopg import sql

    demo, q, url, _ = qa
    demo.settings.trino_url = require_trino_url()
    before = len(q.runs(ASSET))
    db = url.rpartition("/")[2]
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
    for engine in ("postgresql", "duckdb", "trino"):
        with pytest.raises(SourceError) as err:
            q.run(ASSET, engine=engine)
        assert db in str(err.value) or "qa_pg" in str(err.value), (engine, str(err.value))
    assert len(q.runs(ASSET)) == before  # nothing half-written
    with psycopg.connect(pg_url, autocommit=True) as con:  # the fixture drops it again
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
