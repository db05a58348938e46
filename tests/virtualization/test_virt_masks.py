"""Masks: exact masked values on DuckDB, and Trino SQL that uses only functions Trino has."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import pytest
from sqlglot import exp

from govfabric.errors import ValidationFailed
from govfabric.virtualization.masks import MASKS, apply_mask

CASES = [
    ("full", {}, "13812345678", "***"),
    ("full", {"text": "已脱敏"}, "x", "已脱敏"),
    ("partial", {"first": 2, "last": 1}, "abcdef", "ab***f"),
    ("partial", {"first": 2, "last": 2}, "abc", "***"),
    ("partial", {"first": 0, "last": 3}, "abcdef", "***def"),
    ("cn_name", {}, "张伟", "张*"),
    ("cn_name", {}, "王小明", "王**"),
    ("cn_name", {}, "欧阳娜娜", "欧阳**"),
    ("cn_name", {}, "司马光", "司马*"),
    ("cn_name", {}, "上官婉儿", "上官**"),
    ("cn_name", {}, "欧阳", "欧*"),
    ("cn_name", {}, "李", "*"),
    ("resident_id", {}, "110108199001011234", "110108********1234"),
    ("resident_id", {}, "44030519920202456X", "440305********456X"),
    ("mobile", {}, "13812345678", "138****5678"),
    ("credit_code", {}, "91110108MA01AAAA1X", "91110108*********X"),
    ("bank_card", {}, "6222021234567890123", "622202*********0123"),
    ("email", {}, "zhangwei@example.cn", "z***@example.cn"),
    ("email", {}, "no-at-sign", "***"),
    ("email", {}, "@example.cn", "***"),
    ("address", {}, "北京市海淀区中关村大街1号", "北京市海淀区***"),
    ("address", {}, "广东省深圳市南山区科技园10栋", "广东省深圳市南山区***"),
    ("address", {}, "内蒙古自治区呼和浩特市新城区中山路", "内蒙古自治区呼和浩特市新城区***"),
    ("address", {}, "江苏省苏州市昆山市玉山镇", "江苏省苏州市昆山市***"),
    ("address", {}, "四川省凉山彝族自治州西昌市胜利路", "四川省凉山彝族自治州西昌市***"),
    ("address", {}, "河北省保定市清苑县某村", "河北省保定市清苑县***"),
    ("address", {}, "上海市浦东新区世纪大道", "上海市浦东新区***"),
    ("address", {}, "海淀区学院路", "海淀区***"),
    ("address", {}, "某街道100号", "***"),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _run(
    con: duckdb.DuckDBPyConnection, rule: str, params: dict, value: object, typ: str = "VARCHAR"
) -> object:
    masked = apply_mask(exp.column("v", quoted=True), rule, params, "duckdb", typ)
    value_col = exp.alias_(exp.cast(exp.Placeholder(), typ), "v")
    sql = exp.select(masked).from_(exp.select(value_col).subquery("t")).sql("duckdb")
    return con.execute(sql, [value]).fetchone()[0]


@pytest.mark.parametrize(("rule", "params", "value", "expected"), CASES)
def test_mask_values(
    con: duckdb.DuckDBPyConnection, rule: str, params: dict, value: str, expected: str
) -> None:
    assert _run(con, rule, params, value) == expected


@pytest.mark.parametrize("rule", list(MASKS))
def test_masks_keep_null(con: duckdb.DuckDBPyConnection, rule: str) -> None:
    assert _run(con, rule, {}, None, "DATE" if rule == "year" else "VARCHAR") is None


def test_hash_is_salted_sha256_hex(con: duckdb.DuckDBPyConnection) -> None:
    got = _run(con, "hash", {"salt": "s3"}, "110108199001011234")
    assert got == hashlib.sha256(b"s3110108199001011234").hexdigest()
    assert _run(con, "hash", {"salt": "other"}, "110108199001011234") != got


def test_hash_trino_sql_matches_duckdb_meaning() -> None:
    masked = apply_mask(exp.column("v", quoted=True), "hash", {"salt": "s"}, "trino", "VARCHAR")
    assert masked.sql("trino") == (
        'CASE WHEN "v" IS NULL THEN NULL ELSE LOWER(TO_HEX(SHA256(TO_UTF8(\'s\' || "v")))) END'
    )


def test_year_and_null_and_non_string(con: duckdb.DuckDBPyConnection) -> None:
    assert _run(con, "year", {}, dt.date(1990, 5, 6), "DATE") == 1990
    assert _run(con, "null", {}, "x") is None
    assert _run(con, "mobile", {}, 13812345678, "BIGINT") == "138****5678"


#: Function names in the Trino SQL of every mask: each exists in Trino with the meaning used.
TRINO_FUNCTIONS = {
    "SUBSTR",
    "LENGTH",
    "LPAD",
    "STRPOS",
    "REGEXP_LIKE",
    "REGEXP_EXTRACT",
    "EXTRACT",
    "LOWER",
    "TO_HEX",
    "SHA256",
    "TO_UTF8",
}


def test_trino_sql_uses_portable_functions() -> None:
    import re

    for name, rule in MASKS.items():
        sql = rule.build(exp.column("v", quoted=True), {}, "trino", "VARCHAR").sql("trino")
        called = set(re.findall(r"([A-Z_0-9]+)\(", re.sub(r"'[^']*'", "''", sql)))
        assert called <= TRINO_FUNCTIONS | {"CAST", "IN"}, (name, called - TRINO_FUNCTIONS)
    resident = MASKS["resident_id"].build(exp.column("v", quoted=True), {}, "trino", "VARCHAR").sql("trino")
    assert (
        'SUBSTR("v", 1, 6)' in resident and "LPAD('', CAST(LENGTH(\"v\") - 10 AS INTEGER), '*')" in resident
    )


def test_unknown_rule_and_parameter() -> None:
    with pytest.raises(ValidationFailed, match="unknown mask rule"):
        apply_mask(exp.column("v"), "nope", {}, "duckdb", "VARCHAR")
    with pytest.raises(ValidationFailed, match="no parameter"):
        apply_mask(exp.column("v"), "mobile", {"first": 1}, "duckdb", "VARCHAR")
