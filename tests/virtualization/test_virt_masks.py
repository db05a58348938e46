"""Masks: exact masked values on DuckDB and the same values on the real Trino; Trino SQL that uses
only functions Trino has; the hash keyed (HMAC) so it cannot be brute-forced without the key."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import duckdb
import pytest
from sqlglot import exp
from trino_world import trino_cursor

from govfabric.errors import QueryRejected, ValidationFailed
from govfabric.virtualization.masks import (
    KEY_PLACEHOLDER,
    MASKS,
    apply_mask,
    check_params,
    hmac_sm3_hex,
    redact_key,
    register_functions,
)

KEY = hashlib.sha256(b"test mask key").digest()
ID = "110108199001011234"

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

#: Addresses that tempt a mask to keep more than province + prefecture + the first county-level
#: unit: a 区/县/市 later in the street or landmark, 市 in a street name, no province, autonomous
#: regions, prefectures, banners and leagues, no county-level unit at all.
ADDRESSES = [
    ("北京市朝阳区建国路2单元501室,近海淀区", "北京市朝阳区***"),
    ("北京市海淀区中关村软件园区8号楼", "北京市海淀区***"),
    ("上海市黄浦区市场路12号", "上海市黄浦区***"),
    ("浙江省杭州市西湖区文三路市民中心", "浙江省杭州市西湖区***"),
    ("广东省广州市天河区体育西路市府大楼3区", "广东省广州市天河区***"),
    ("朝阳区建国路88号", "朝阳区***"),
    ("上海浦东新区世纪大道100号", "上海浦东新区***"),
    ("建国路88号2单元501室,近海淀区", "***"),
    ("学院路市场3号", "***"),
    ("北京市 海淀区 学院路", "北京市***"),
    ("广西壮族自治区南宁市青秀区民族大道", "广西壮族自治区南宁市青秀区***"),
    ("内蒙古自治区锡林郭勒盟锡林浩特市某路", "内蒙古自治区锡林郭勒盟锡林浩特市***"),
    ("内蒙古自治区呼伦贝尔市鄂温克族自治旗巴彦托海镇", "内蒙古自治区呼伦贝尔市鄂温克族自治旗***"),
    ("吉林省延边朝鲜族自治州延吉市河南街", "吉林省延边朝鲜族自治州延吉市***"),
    ("云南省迪庆藏族自治州香格里拉市建塘镇", "云南省迪庆藏族自治州香格里拉市***"),
    ("四川省乐山市峨边彝族自治县沙坪镇", "四川省乐山市峨边彝族自治县***"),
    ("重庆市石柱土家族自治县南宾街道", "重庆市石柱土家族自治县***"),
    ("新疆维吾尔自治区乌鲁木齐市天山区", "新疆维吾尔自治区乌鲁木齐市天山区***"),
    ("黑龙江省大兴安岭地区漠河市北极村", "黑龙江省大兴安岭地区漠河市***"),
    ("湖北省神农架林区松柏镇", "湖北省神农架林区***"),
    ("黑龙江省哈尔滨市道里区中央大街", "黑龙江省哈尔滨市道里区***"),
    ("河北省唐山市路北区新华道", "河北省唐山市路北区***"),
    ("山东省济南市市中区经四路", "山东省济南市市中区***"),
    ("福建省福州市鼓楼区五四路", "福建省福州市鼓楼区***"),
]
CASES += [("address", {}, a, want) for a, want in ADDRESSES]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    register_functions(c, KEY)
    return c


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
    assert _run(con, rule, {"_key": KEY}, None, "DATE" if rule == "year" else "VARCHAR") is None
    if rule == "hash":
        assert _run(con, rule, {"_key": KEY, "alg": "sm3"}, None) is None


def test_hash_is_hmac_with_the_key_not_a_plain_digest(con: duckdb.DuckDBPyConnection) -> None:
    got = _run(con, "hash", {"_key": KEY}, ID)
    assert got == hmac.new(KEY, ID.encode(), hashlib.sha256).hexdigest()
    # what an attacker without the key tries: the plain digest (the old mask with its default empty salt)
    assert got != hashlib.sha256(ID.encode()).hexdigest()
    assert _run(con, "hash", {"_key": bytes(32)}, ID) != got  # another workspace, another value
    salted = _run(con, "hash", {"_key": KEY, "salt": "盐"}, ID)
    assert salted == hmac.new(KEY, ("盐" + ID).encode(), hashlib.sha256).hexdigest() != got
    assert _run(con, "hash", {"_key": KEY}, "张伟") == hmac.new(KEY, "张伟".encode(), hashlib.sha256).hexdigest()


def test_hash_sm3_on_duckdb_refused_on_trino(con: duckdb.DuckDBPyConnection) -> None:
    got = _run(con, "hash", {"_key": KEY, "alg": "sm3", "salt": "s"}, ID)
    assert got == hmac.new(KEY, ("s" + ID).encode(), "sm3").hexdigest() == hmac_sm3_hex(KEY, "s" + ID)
    assert got != _run(con, "hash", {"_key": KEY, "salt": "s"}, ID)
    with pytest.raises(QueryRejected, match="HMAC-SM3.*--engine duckdb"):
        apply_mask(exp.column("v"), "hash", {"_key": KEY, "alg": "sm3"}, "trino", "VARCHAR")


def test_hash_without_a_key_is_refused() -> None:
    for params in ({}, {"_key": b""}, {"salt": "s"}):
        with pytest.raises(QueryRejected, match="no workspace mask key"):
            apply_mask(exp.column("v"), "hash", params, "duckdb", "VARCHAR")


def test_the_key_never_shows_in_generated_sql_once_redacted() -> None:
    for engine in ("duckdb", "trino"):
        sql = apply_mask(exp.column("v", quoted=True), "hash", {"_key": KEY}, engine, "VARCHAR").sql(engine)
        clean = redact_key(sql, KEY)
        assert KEY_PLACEHOLDER in clean
        # the key, and HMAC's padded block keys (each reveals the key), in any case
        for form in (KEY.hex(), bytes(b ^ 0x36 for b in KEY).hex(), bytes(b ^ 0x5C for b in KEY).hex()):
            assert form not in clean.lower()


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
    "TO_UTF8",
    "HMAC_SHA256",
    "FROM_HEX",
}


def test_trino_sql_uses_portable_functions() -> None:
    import re

    for name, rule in MASKS.items():
        sql = rule.build(exp.column("v", quoted=True), {"_key": KEY}, "trino", "VARCHAR").sql("trino")
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
    with pytest.raises(ValidationFailed, match="no parameter _other"):
        apply_mask(exp.column("v"), "hash", {"_key": KEY, "_other": 1}, "duckdb", "VARCHAR")
    # a steward setting a mask may not pass the reserved key, nor an unknown algorithm
    with pytest.raises(ValidationFailed, match="no parameter _key"):
        check_params("hash", {"_key": "00" * 32})
    with pytest.raises(ValidationFailed, match="alg='md5'"):
        check_params("hash", {"alg": "md5"})
    check_params("hash", {"alg": "sm3", "salt": "x"})


# ---------------------------------------------------------------- the same values on the real Trino


@pytest.fixture(scope="module")
def trino() -> object:
    from infra.services import require_trino_url

    return trino_cursor(require_trino_url())


def _trino_values(cur: object, rule: str, params: dict, values: list[str | None]) -> list[object]:
    masked = apply_mask(exp.column("v", quoted=True), rule, params, "trino", "VARCHAR").sql("trino")
    rows = ", ".join(f"({i}, {exp.convert(v).sql('trino')})" for i, v in enumerate(values))
    cur.execute(f"SELECT {masked} FROM (VALUES {rows}) AS t(i, v) ORDER BY i")  # type: ignore[attr-defined]
    return [r[0] for r in cur.fetchall()]  # type: ignore[attr-defined]


@pytest.mark.trino
def test_address_mask_same_on_trino(trino: object, con: duckdb.DuckDBPyConnection) -> None:
    values = [a for a, _ in ADDRESSES] + ["北京市海淀区中关村大街1号", None]
    got = _trino_values(trino, "address", {}, values)
    assert got == [want for _, want in ADDRESSES] + ["北京市海淀区***", None]
    assert got == [_run(con, "address", {}, v) for v in values]


@pytest.mark.trino
def test_hash_mask_same_on_trino(trino: object, con: duckdb.DuckDBPyConnection) -> None:
    values = [ID, "张伟", "", None]
    for params in ({"_key": KEY}, {"_key": KEY, "salt": "盐-2026"}):
        got = _trino_values(trino, "hash", params, values)
        assert got == [_run(con, "hash", params, v) for v in values]
        assert got[0] == hmac.new(KEY, (params.get("salt", "") + ID).encode(), hashlib.sha256).hexdigest()
        assert got[-1] is None
