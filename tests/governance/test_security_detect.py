"""PII detection from names and values: pure functions, no store."""

from __future__ import annotations

import random
from datetime import date

import pytest

from govfabric.errors import ValidationFailed
from govfabric.governance.security.classes import pii_class
from govfabric.governance.security.detect import (
    as_text,
    detect_column,
    is_cn_address,
    is_cn_person_name,
    name_hint,
    profile_values,
)
from govfabric.identifiers import generate_resident_id, generate_uscc, is_luhn_valid


def ids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [generate_resident_id(rng, "110105", date(1960 + i % 40, 1 + i % 12, 1 + i % 28), "MF"[i % 2])
            for i in range(n)]


def wrong_check(number: str) -> str:
    for c in "0123456789X":
        if c != number[17]:
            return number[:17] + c
    raise AssertionError


def luhn_cards(n: int, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        body = "622202" + "".join(rng.choice("0123456789") for _ in range(9))
        for d in "0123456789":
            if is_luhn_valid(body + d):
                out.append(body + d)
                break
    return out


def test_a_column_named_c7_full_of_ids_is_found() -> None:
    d = detect_column("c7", None, ids(100))
    assert d.pii_class == "resident_id" and d.method == "values"
    assert d.personal_level == "sensitive" and d.data_level == "important"
    assert d.confidence >= 0.95
    assert d.evidence.startswith("100/100 sampled values are valid")


def test_wrong_check_digits_are_not_ids() -> None:
    bad = [wrong_check(x) for x in ids(100)]
    d = detect_column("c8", None, bad)
    assert d.pii_class is None and d.matches.get("resident_id", 0) == 0
    assert "fail the check digit" in d.evidence
    # some valid among many invalid: counted exactly
    mixed = ids(30) + bad[:70]
    d = detect_column("c9", None, mixed)
    assert d.matches["resident_id"] == 30 and d.pii_class == "resident_id"
    assert d.evidence.startswith("30/100")


def test_luhn_decides_bank_cards() -> None:
    cards = luhn_cards(50)
    assert detect_column("c1", None, cards).pii_class == "bank_card"
    broken = [c[:-1] + str((int(c[-1]) + 1) % 10) for c in cards]
    d = detect_column("c2", None, broken)
    assert d.pii_class is None and d.matches.get("bank_card", 0) == 0


def test_other_classes_by_value() -> None:
    rng = random.Random(3)
    cases = {
        "mobile": [f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" for _ in range(40)],
        "phone": ["010-62681234", "021-65012345", "13800138000", "0755-86541300"] * 10,
        "email": [f"user{i}@example.gov.cn" for i in range(40)],
        "passport": ["E12345678", "G87654321", "EA1234567"] * 10,
        "licence_plate": ["京A12345", "沪AD12345", "粤B1234D"] * 10,
        "uscc": [generate_uscc(rng) for _ in range(40)],
        "name": ["张伟", "王芳", "欧阳娜娜", "李䶮", "赵子龙", "周敏", "吴晨", "郑凯", "孙丽", "马超"] * 4,
        "address": ["北京市朝阳区建国路88号", "上海市浦东新区世纪大道100号3单元", "河北省石家庄市长安区中山路1号"] * 10,
    }
    for cls, values in cases.items():
        d = detect_column("x", None, values)
        assert d.pii_class == cls, (cls, d)


def test_things_that_are_not_pii() -> None:
    assert detect_column("status", None, ["正常", "注销", "吊销"] * 20).pii_class is None
    assert detect_column("qx", "所属区县", ["东城区", "石景山区", "海淀区"] * 20).pii_class is None
    assert detect_column("qymc", "企业名称", ["北京某某科技有限公司", "上海市浦东新区某某厂"] * 20).pii_class is None
    assert detect_column("amount", None, [1.5, 2.25, 1000.0] * 20).pii_class is None
    assert not is_cn_person_name("石景山区") and not is_cn_person_name("正常")
    assert is_cn_person_name("张建国、王磊") and is_cn_person_name("司马懿")
    assert is_cn_address("内蒙古呼和浩特市新城区新华大街1号") and not is_cn_address("东城区")


def test_names_give_hints_that_values_confirm_or_refute() -> None:
    assert name_hint("gmsfhm").pii_class == "resident_id"
    assert name_hint("fddbr_sfzh").pii_class == "resident_id"
    assert name_hint("sjhm").pii_class == "mobile" and name_hint("lxdh").pii_class == "phone"
    assert name_hint("xm").pii_class == "name" and name_hint("hjdz").pii_class == "address"
    assert name_hint("holderName").pii_class == "name"
    assert name_hint("c3", "公民身份号码").pii_class == "resident_id"
    assert name_hint("身份证号").pii_class == "resident_id"
    assert name_hint("zzbh") is None and name_hint("ajbh") is None
    # name only (no values) → classified on the name, lower confidence
    d = detect_column("sfzh", None, [])
    assert d.pii_class == "resident_id" and d.method == "name" and d.confidence < 0.8
    # values contradict the name → not classified, and the evidence says why
    d = detect_column("xm", "姓名", [f"PRJ-{i:04d}" for i in range(50)])
    assert d.pii_class is None and "not classified" in d.evidence
    # an ID column with typos keeps its class by name (the data is still identifying)
    d = detect_column("sfzh", None, [wrong_check(x) for x in ids(50)])
    assert d.pii_class == "resident_id" and d.method == "name"
    # numbers stored as integers are still mobiles
    assert detect_column("phone", None, [13800138000, 15912345678] * 10).pii_class == "mobile"


def test_unknown_class_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="unknown PII class 'ssn'"):
        pii_class("ssn")
    assert pii_class("none") is None


def _profile_one_by_one(values: list) -> tuple[int, int, dict[str, int], int]:
    """The value-by-value pass profile_values replaced (the reference its counts must equal)."""
    from govfabric.governance.security.detect import VALUE_CHECKS, _id_shaped, as_text

    texts = [t for t in (as_text(v) for v in values) if t is not None]
    matches: dict[str, int] = {}
    bad = 0
    for t in texts:
        hit = False
        for cls, check in VALUE_CHECKS.items():
            if check(t):
                matches[cls] = matches.get(cls, 0) + 1
                hit = True
        if not hit and _id_shaped(t):
            bad += 1
    return len(texts), len(set(texts)), matches, bad


def test_profile_checks_each_distinct_value_once_with_the_same_counts(monkeypatch):
    """A sample repeats its values (codes, statuses, a few names): each distinct one is checked
    once and counted as often as it occurs, giving the counts (and key order) of a value-by-value pass."""
    import govfabric.governance.security.detect as detect

    values = (["110101199003074514", "11010119900307451X", "张三", " 张三 ", "13800138000", None, "", 3.0,
               "北京市海淀区中关村大街27号", "91350100M000100Y43", "x"] * 40)
    expected = _profile_one_by_one(values)
    calls: dict[str, int] = {}

    def counting(cls, check):
        def wrapped(v: str) -> bool:
            calls[cls] = calls.get(cls, 0) + 1
            return check(v)
        return wrapped

    monkeypatch.setattr(detect, "VALUE_CHECKS", {c: counting(c, f) for c, f in detect.VALUE_CHECKS.items()})
    prof = profile_values(values)
    distinct = len({t for t in (as_text(v) for v in values) if t is not None})
    assert calls and all(n == distinct for n in calls.values())
    assert (prof.non_null, prof.distinct, prof.matches, prof.id_shaped_bad_check) == expected
    assert list(prof.matches) == list(expected[2])
    assert prof.matches and expected[3] > 0  # the sample exercises matches and the bad-check count


@pytest.mark.parametrize("values", [
    [" 张三", "李四 ", "", "   ", None, "张三", "110105199001011234"],
    [3, None, 11, 3, 13800138000],
    [True, 1, None, 2.0, 2.5, "2", date(2024, 1, 1), b"x", " 7 "],
    [type("S", (str,), {})(" x "), "x"],  # a str subclass: counted as as_text counts it
    [],
])
def test_text_counts_are_as_text_of_each_value(values: list[object]) -> None:
    from collections import Counter

    from govfabric.governance.security.detect import _text_counts, as_text

    want = Counter(t for t in map(as_text, values) if t is not None)
    got = _text_counts(iter(values))
    assert got == want and list(got) == list(want)  # same counts, same first-seen order
