"""Masks through the policy: the hash keyed with the workspace's mask key end to end (joins still
match, same values on DuckDB and Trino, the key nowhere in the store), and ``--explain`` that
shows a non-owner only virtual names with ``mask(column)`` / ``row_filter(table)`` placeholders."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from trino_world import trino_runner
from virt_world import ANALYST, load_duckdb, resolver

from govfabric.errors import ValidationFailed
from govfabric.virtualization.explain import placeholder_sql
from govfabric.virtualization.masks import KEY_PLACEHOLDER, mask_key, redact_key
from govfabric.virtualization.pipeline import plan
from govfabric.virtualization.policy import MaskSpec, Policy, TableGrant

KEY = hashlib.sha256(b"policy test key").digest()


def _forms(key: bytes) -> list[bytes]:
    """Every form of the key generated SQL could carry: raw, hex (both cases), HMAC's padded keys."""
    padded = [bytes(b ^ pad for b in key.ljust(64, b"\0")).hex() for pad in (0x36, 0x5C)]
    return [key] + [f.encode() for h in (key.hex(), *padded) for f in (h, h.upper())]


def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- pipeline: both engines

HASHED = Policy(
    principal="hasher",
    tables={
        "market.enterprise": TableGrant(columns=frozenset({"enterprise_name"}),
                                        masks={"legal_rep": MaskSpec("hash", {"_key": KEY})}),
        "security.person": TableGrant(columns=frozenset({"district"}),
                                      masks={"name": MaskSpec("hash", {"_key": KEY})},
                                      row_filters=("district = '海淀区'",)),
    },
)
JOIN = ("SELECT e.enterprise_name, p.name FROM market.enterprise e JOIN security.person p "
        "ON e.legal_rep = p.name ORDER BY 1")


def _duckdb() -> Any:
    con = duckdb.connect()
    load_duckdb(con)
    return lambda sql: con.execute(sql).fetchall()


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("trino", marks=pytest.mark.trino)])
def test_keyed_hash_joins_across_tables_on_both_engines(engine: str) -> None:
    run = _duckdb() if engine == "duckdb" else trino_runner()
    planned = plan(JOIN, engine=engine, resolver=resolver(), policy=HASHED)
    assert [tuple(r) for r in run(planned.sql)] == [("北京云数科技有限公司", _hmac(KEY, "张伟"))]
    names = run(plan("SELECT name FROM security.person ORDER BY 1", engine=engine, resolver=resolver(),
                     policy=HASHED).sql)
    assert sorted(r[0] for r in names) == sorted(_hmac(KEY, n) for n in ("张伟", "王小明", "诸葛亮"))


@pytest.mark.parametrize("engine", ["duckdb", "trino"])
def test_placeholder_explain_hides_physical_names_filters_and_masks(engine: str) -> None:
    sql = ("SELECT p.id_number, p.address, count(*) AS n FROM security.person p JOIN market.enterprise e "
           "ON e.legal_rep = p.name WHERE p.mobile LIKE '138%' GROUP BY 1, 2")
    text = placeholder_sql(plan(sql, engine=engine, resolver=resolver(), policy=ANALYST, keep_virtual=True), engine)
    for secret in ("t_rk_jbxx", "t_qy_jbxx", "sfzhm", "fddbr", '"dz"', "memory", "default", "principal_attr",
                   "region", "海淀区", "SUBSTR", "LPAD", "REGEXP"):
        assert secret not in text, (secret, text)
    for col in ("id_number", "address", "mobile", "name", "legal_rep"):  # aliases are canonical (_0, _1)
        assert re.search(rf'MASK\("_\d"\."{col}"\)', text), (col, text)
    assert re.search(r'FROM ROW_FILTER\("security"\."person"\) AS "_\d" JOIN "market"\."enterprise" AS', text)
    assert "LIKE '138%'" in text  # the user's own query is shown as written


@pytest.mark.parametrize("engine", ["duckdb", "trino"])
def test_physical_sql_shows_a_placeholder_for_the_key(engine: str) -> None:
    raw = plan(JOIN, engine=engine, resolver=resolver(), policy=HASHED).sql
    assert any(f.decode() in raw.lower() for f in _forms(KEY)[1:])  # the test would prove nothing otherwise
    shown = redact_key(raw, KEY)
    assert shown.count(KEY_PLACEHOLDER) >= 2
    assert not any(f.decode() in shown for f in _forms(KEY)[1:])


# ---------------------------------------------------------------- the workspace, end to end (DuckDB)


@pytest.fixture
def person(demo: Any) -> Any:
    ps = demo.as_user("steward_ps")
    ps.virtual.create_table("security.person", "ps_db.main.t_rk_jbxx",
                            renames={"gmsfhm": "id_number", "xm": "name", "hjdz": "address", "hjd_xzqh": "region"},
                            only=["gmsfhm", "xm", "hjdz", "hjd_xzqh", "csrq"])
    ps.access.grant("analyst1", "security.person", columns=["id_number", "name", "region"],
                    row_filter="region = '110105'")
    ps.access.set_mask("security.person", "id_number", "hash")
    return ps


def _admin(demo: Any) -> str:
    return next(p.name for p in demo.principals() if "admin" in (p.roles or []))


def test_hash_mask_cannot_be_brute_forced_without_the_key(person: Any) -> None:
    analyst = person.as_user("analyst1")
    got = analyst.sql("SELECT id_number FROM security.person ORDER BY 1").column(0).to_pylist()
    raw = person.sql("SELECT id_number FROM security.person WHERE region = '110105'").column(0).to_pylist()
    assert got and len(got) == len(raw)
    key = mask_key(person)
    assert sorted(got) == sorted(_hmac(key, r) for r in raw)
    # the old mask (sha256 with its empty default salt) is what an attacker can recompute: not this
    assert not set(got) & {hashlib.sha256(r.encode()).hexdigest() for r in raw}
    with pytest.raises(ValidationFailed, match="no parameter _key"):
        person.access.set_mask("security.person", "id_number", "hash", {"_key": "00" * 32})
    # HMAC-SM3 on DuckDB: the function registered on the engine's connection, same key
    person.access.set_mask("security.person", "id_number", "hash", {"alg": "sm3"})
    sm3 = analyst.sql("SELECT id_number FROM security.person ORDER BY 1").column(0).to_pylist()
    assert sorted(sm3) == sorted(hmac.new(key, r.encode(), "sm3").hexdigest() for r in raw)


def test_explain_placeholders_for_analysts_physical_for_owners(person: Any, demo_home: Path) -> None:
    sql = "SELECT id_number, name FROM security.person WHERE name LIKE '张%'"
    analyst = person.as_user("analyst1").queries.explain(sql)
    assert set(analyst) == {"duckdb", "trino"}
    for text in analyst.values():
        for secret in ("t_rk_jbxx", "gmsfhm", "hjd_xzqh", "src_ps_db", "110105", "sha256", "unhex"):
            assert secret not in text.lower(), (secret, text)
    assert re.search(r'MASK\("_\d"\."id_number"\)', analyst["duckdb"])
    assert 'ROW_FILTER("security"."person")' in analyst["duckdb"]
    owner = person.queries.explain(sql)["duckdb"]
    assert "t_rk_jbxx" in owner and "gmsfhm" in owner  # the owning steward sees the physical SQL
    # an admin reading through a masked grant sees the physical SQL with the key as a placeholder
    admin = person.as_user(_admin(person))
    person.access.grant(admin.actor.name, "security.person", columns=["id_number", "name"])
    shown = admin.queries.explain("SELECT id_number FROM security.person")["duckdb"]
    assert "t_rk_jbxx" in shown and KEY_PLACEHOLDER in shown
    assert not any(f.decode("latin-1") in shown for f in _forms(mask_key(person))[1:])


def test_the_mask_key_is_nowhere_in_the_store(person: Any, demo_home: Path) -> None:
    analyst = person.as_user("analyst1")
    analyst.sql("SELECT id_number, count(*) AS n FROM security.person GROUP BY 1")
    analyst.queries.explain("SELECT id_number FROM security.person")
    with pytest.raises(Exception):  # noqa: B017 (any error: its text is what gets stored)
        analyst.sql("SELECT CAST(id_number AS INTEGER) AS x FROM security.person")
    forms = _forms(mask_key(person))
    for f in demo_home.rglob("*"):
        if f.is_file() and not f.is_symlink() and f.name != "secret.key":
            data = f.read_bytes()
            assert not any(form in data for form in forms), f
