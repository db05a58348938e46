from __future__ import annotations

import os
import uuid

import pytest

from govfabric.demo.generate import SAMPLES, generate_demo
from govfabric.demo.postgres import write_to_postgres
from govfabric.demo.schema import COLUMN_LABELS, TABLE_LABELS
from govfabric.identifiers import is_valid_uscc

pytestmark = pytest.mark.postgres

PG_URL = os.environ.get("GOVFABRIC_TEST_PG_URL")


@pytest.fixture
def pg():
    if not PG_URL:
        pytest.skip("GOVFABRIC_TEST_PG_URL is not set (.ci/run starts PostgreSQL and sets it)")
    import psycopg
    from psycopg import sql

    schema = f"demo_{uuid.uuid4().hex[:8]}"
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn, schema
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def test_market_and_population_load_with_chinese_comments(pg, tmp_path):
    from psycopg import sql

    conn, schema = pg
    demo = generate_demo(tmp_path)
    counts = write_to_postgres(demo, PG_URL, schema, systems=("market_regulation", "public_security"))
    assert counts == {k: demo.counts[k] for k in ("t_qy_jbxx", "t_yyzz", "t_jcaj", "t_rk_jbxx", "t_dm_xzqh")}

    comments = conn.execute(
        "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
        (schema,),
    ).fetchall()
    assert dict(comments) == TABLE_LABELS
    columns = conn.execute(
        "SELECT a.attname, col_description(a.attrelid, a.attnum), format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 ORDER BY a.attnum",
        (f"{schema}.t_qy_jbxx",),
    ).fetchall()
    assert [(n, label) for n, label, _ in columns] == list(COLUMN_LABELS["t_qy_jbxx"].items())
    types = {n: t for n, _, t in columns}
    assert types["zczb"] == "numeric(18,4)" and types["clrq"] == "date"

    firms, people = sql.Identifier(schema, "t_qy_jbxx"), sql.Identifier(schema, "t_rk_jbxx")
    joined = conn.execute(
        sql.SQL(
            "SELECT p.xm, q.qymc, q.tyshxydm FROM {} q JOIN {} p ON p.gmsfhm = q.fddbr_sfzh "
            "WHERE p.gmsfhm = %s"
        ).format(firms, people),
        (SAMPLES["person_id"],),
    ).fetchall()
    assert joined == [("刘䶮", SAMPLES["enterprise_name"], SAMPLES["enterprise_uscc"])]
    codes = [r[0] for r in conn.execute(sql.SQL("SELECT tyshxydm FROM {}").format(firms)).fetchall()]
    assert len(codes) == 2000 and all(map(is_valid_uscc, codes))

    # loading again replaces the tables instead of failing or duplicating rows
    assert write_to_postgres(demo, PG_URL, schema)["t_qy_jbxx"] == 2000
    assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(firms)).fetchone() == (2000,)
