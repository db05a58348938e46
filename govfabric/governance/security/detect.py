"""PII detection for one column, from its name and a sample of its values.

Names give a hint (pinyin abbreviations such as ``sfzh``/``gmsfhm``/``xm``/``sjhm``,
English names, Chinese names); values decide: each sampled value is checked with the
real validators (resident ID check digit, Luhn, credit-code check character …), so a
column called ``c7`` full of ID numbers is found, and a column called ``sfzh`` full of
something else is not. Nothing here touches a store or a source: it is pure and fast.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from govfabric.demo.names import COMPOUND_SURNAMES as _DEMO_COMPOUND
from govfabric.demo.names import SURNAMES as _DEMO_SURNAMES
from govfabric.governance.security.classes import PII_CLASSES
from govfabric.identifiers import (
    PROVINCE_CODES,
    is_bank_card,
    is_email,
    is_licence_plate,
    is_mobile,
    is_passport,
    is_valid_resident_id,
    is_valid_uscc,
)
from govfabric.virtualization.masks import COMPOUND_SURNAMES as _MASK_COMPOUND

# ---------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------

#: whole names or name tokens (lowercase) → class; pinyin initials first, then English
NAME_TOKENS: dict[str, str] = {
    # resident ID: 身份证号 / 公民身份号码 / 身份证号码 / 证件号码
    "sfzh": "resident_id", "sfzhm": "resident_id", "gmsfhm": "resident_id", "sfz": "resident_id",
    "sfzjhm": "resident_id", "zjhm": "resident_id", "idcard": "resident_id", "idno": "resident_id",
    "id_card": "resident_id", "id_no": "resident_id", "id_number": "resident_id", "resident_id": "resident_id",
    "citizen_id": "resident_id", "identity_no": "resident_id",
    # names: 姓名 / 法定代表人 / 联系人 / 负责人 / 执法人员
    "xm": "name", "fddbr": "name", "lxr": "name", "fzr": "name", "name": "name", "full_name": "name",
    "fullname": "name", "realname": "name", "real_name": "name", "person_name": "name", "contact_name": "name",
    # mobile: 手机号码 / 联系电话 / 移动电话
    "sjhm": "mobile", "sjh": "mobile", "lxdh": "phone", "yddh": "mobile", "dhhm": "phone", "mobile": "mobile",
    "phone": "phone", "cellphone": "mobile", "tel": "phone", "telephone": "phone", "phone_number": "phone",
    "mobile_phone": "mobile",
    # address: 地址 / 户籍地址 / 现住址 / 居住地址 / 通讯地址 / 住所
    "dz": "address", "hjdz": "address", "xzz": "address", "jzdz": "address", "txdz": "address", "zs": "address",
    "address": "address", "addr": "address", "home_address": "address",
    # e-mail: 电子邮箱
    "dzyx": "email", "yx": "email", "email": "email", "e_mail": "email", "mail": "email",
    # bank card: 银行卡号 / 银行账号
    "yhkh": "bank_card", "yhzh": "bank_card", "bank_card": "bank_card", "bankcard": "bank_card",
    "card_no": "bank_card", "account_no": "bank_card",
    # passport: 护照号码
    "hzhm": "passport", "hzh": "passport", "passport": "passport", "passport_no": "passport",
    # plates: 车牌号码 / 号牌号码
    "cphm": "licence_plate", "hphm": "licence_plate", "plate": "licence_plate", "plate_no": "licence_plate",
    "licence_plate": "licence_plate", "license_plate": "licence_plate",
    # credit codes
    "tyshxydm": "uscc", "shxydm": "uscc", "xydm": "uscc", "uscc": "uscc", "credit_code": "uscc",
    "social_credit_code": "uscc",
}  # fmt: skip

#: Chinese words in a column's name or Chinese name → class, most specific first
CN_WORDS: tuple[tuple[str, str], ...] = (
    ("统一社会信用代码", "uscc"), ("信用代码", "uscc"),
    ("公民身份号码", "resident_id"), ("身份证", "resident_id"), ("身份号码", "resident_id"),
    ("护照", "passport"), ("银行卡", "bank_card"), ("银行账号", "bank_card"), ("银行账户", "bank_card"),
    ("车牌", "licence_plate"), ("号牌", "licence_plate"),
    ("手机", "mobile"), ("联系电话", "phone"), ("移动电话", "mobile"), ("电话", "phone"),
    ("邮箱", "email"), ("电子邮件", "email"),
    ("住址", "address"), ("地址", "address"), ("住所", "address"), ("居住地", "address"),
    ("姓名", "name"), ("法定代表人", "name"), ("联系人", "name"), ("负责人", "name"), ("执法人员", "name"),
)  # fmt: skip

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class NameHint:
    pii_class: str
    score: float
    reason: str


@lru_cache(maxsize=4096)
def name_hint(name: str, cn_name: str | None = None) -> NameHint | None:
    """What the column's names suggest, with a strength in [0, 1]. Memoised: a scan's tables repeat
    their column names (the hint is frozen, so sharing it is safe)."""
    low = _CAMEL.sub("_", name).lower()
    key = "_".join(t for t in _SPLIT.split(low) if t)
    if key in NAME_TOKENS:
        return NameHint(NAME_TOKENS[key], 0.7, f"column name {name!r} means {_label(NAME_TOKENS[key])}")
    tokens = [t for t in key.split("_") if t]
    if tokens and tokens[-1] in NAME_TOKENS:
        cls = NAME_TOKENS[tokens[-1]]
        return NameHint(cls, 0.65, f"column name {name!r} ends in {tokens[-1]!r} ({_label(cls)})")
    for text in (cn_name or "", name):
        for word, cls in CN_WORDS:
            if word in text:
                return NameHint(cls, 0.65, f"column name {text!r} contains {word!r}")
    for t in tokens[:-1]:
        if t in NAME_TOKENS and len(t) > 2:
            cls = NAME_TOKENS[t]
            return NameHint(cls, 0.5, f"column name {name!r} contains {t!r} ({_label(cls)})")
    return None


def _label(cls: str) -> str:
    return PII_CLASSES[cls].label_zh


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------

SURNAMES = frozenset(
    _DEMO_SURNAMES
    + "贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝明臧计伏成戴谈宋茅"
    "庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫经"
    "房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富"
    "巫乌焦巴弓牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲"
    "邰从鄂索咸籍赖卓蔺屠蒙池乔阴郁胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍却璩桑桂濮牛寿通边扈燕冀郏浦尚"
    "农温别庄晏柴瞿阎充慕连茹习宦艾鱼容向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师"
    "巩厍聂晁勾敖融冷訾辛阚那简饶空曾毋沙乜养鞠须丰巢关蒯相查后荆红游竺权逯盖益桓公覃岳帅缑亢况郈有琴商牟"
    "佘佴伯赏墨哈谯笪年爱阳佟"
)
"""Single-character surnames (the 百家姓 and the census' most frequent ones)."""

COMPOUND = frozenset(_MASK_COMPOUND) | frozenset(_DEMO_COMPOUND)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f·]+")
_NOT_NAME_END = frozenset("省市区县镇乡村路街局司院委会厂店部处所队站组行社科室馆园场厅中号型类级费税元年月日")

PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽", "福建",
    "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州", "云南", "西藏",
    "陕西", "甘肃", "青海", "宁夏", "新疆", "台湾", "香港", "澳门",
)  # fmt: skip
_DIVISION = re.compile(r"省|自治区|自治州|市|区|县|旗|盟")
_LOCALITY = re.compile(r"路|街|道|巷|弄|号|村|镇|乡|组|室|栋|幢|单元|楼|大厦|小区|社区|胡同|里")
_ORG_END = re.compile(r"(公司|厂|店|中心|合作社|局|院|所|部|委员会|协会|学校|银行)$")


_NAME_SEP = re.compile(r"[、，,；;/ ]+")


def is_cn_person_name(value: str) -> bool:
    """2–4 CJK characters (or a compound surname + 1–2) starting with a known surname; also a short
    list of such names (``张建国、王磊``)."""
    parts = [p for p in _NAME_SEP.split(value) if p]
    if len(parts) > 1:
        return len(parts) <= 6 and all(_one_name(p) for p in parts)
    return _one_name(value)


def _one_name(value: str) -> bool:
    if not 2 <= len(value) <= 5 or not _CJK.fullmatch(value) or value[-1] in _NOT_NAME_END:
        return False
    if value[:2] in COMPOUND:
        return 3 <= len(value) <= 4
    return value[0] in SURNAMES and len(value) <= 4


def is_cn_address(value: str) -> bool:
    """An address: a division (province/city/district/county) and a locality (road, number, village …)."""
    if len(value) < 6 or _ORG_END.search(value):
        return False
    has_division = bool(_DIVISION.search(value)) or value.startswith(PROVINCES)
    return has_division and bool(_LOCALITY.search(value))


def _is_resident_id(v: str) -> bool:
    return is_valid_resident_id(v.upper())


def _id_shaped(v: str) -> bool:
    """18 characters shaped like a resident ID (province, 19xx/20xx birth year), check digit not verified."""
    return (len(v) == 18 and v[:17].isdigit() and v[:2] in PROVINCE_CODES and v[6:8] in ("19", "20")
            and (v[17].isdigit() or v[17] in "Xx"))


def _is_bank_card(v: str) -> bool:
    return is_bank_card(v) and not _id_shaped(v)


def _is_mobile(v: str) -> bool:
    v = v.replace(" ", "").replace("-", "")
    if v.startswith("+86"):
        v = v[3:]
    return is_mobile(v)


_LANDLINE = re.compile(r"0\d{2,3}-?[2-9]\d{6,7}(?:-\d{1,5})?")


def _is_phone(v: str) -> bool:
    """A mobile or a fixed-line number (area code, optional extension)."""
    return _is_mobile(v) or bool(_LANDLINE.fullmatch(v.replace(" ", "")))


VALUE_CHECKS: dict[str, Callable[[str], bool]] = {
    # a cheap length/character test first: most values fail most checks, and the validators are slower
    "resident_id": lambda v: len(v) == 18 and _is_resident_id(v),
    "uscc": lambda v: len(v) == 18 and is_valid_uscc(v.upper()),
    "mobile": lambda v: 11 <= len(v) <= 16 and _is_mobile(v),
    "phone": lambda v: 7 <= len(v) <= 20 and v[0] in "0+1" and _is_phone(v),
    "bank_card": lambda v: 16 <= len(v) <= 19 and v.isdigit() and _is_bank_card(v),
    "passport": lambda v: 8 <= len(v) <= 9 and is_passport(v),
    "licence_plate": lambda v: 7 <= len(v) <= 8 and is_licence_plate(v),
    "email": lambda v: "@" in v and is_email(v),
    "name": lambda v: len(v) <= 40 and is_cn_person_name(v),
    "address": lambda v: len(v) >= 6 and is_cn_address(v),
}
"""Class → predicate over one value (already a stripped string)."""

#: fraction of non-null sampled values that must match; lower for sensitive classes, whose
#: presence in a mixed column (e.g. a holder code that is a credit code or an ID) still matters
THRESHOLDS: dict[str, float] = {"resident_id": 0.2, "bank_card": 0.2, "passport": 0.3, "name": 0.3}
DEFAULT_THRESHOLD = 0.5
#: with at least this many non-null values, a name hint that no value supports is dropped
MIN_VALUES_TO_CONTRADICT = 3  # e.g. r_name holding ASIA, EUROPE… is no personal name
#: priority when two classes match equally often
PRIORITY = ("resident_id", "bank_card", "passport", "uscc", "mobile", "phone", "email", "licence_plate",
            "address", "name")


def as_text(value: Any) -> str | None:
    """The value as text for checking, or None when it cannot hold an identifier."""
    if value is None or isinstance(value, bool | date | datetime | bytes | bytearray | memoryview):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e19 else None
    text = str(value).strip()
    return text or None


def _text_counts(values: Iterable[Any]) -> Counter[str]:
    """:func:`as_text` of every value, counted (first-seen order). A sampled column holds one type:
    all text (stripped) or all integers (``str``) are counted without a call per value."""
    vals = [v for v in values if v is not None]
    kinds = set(map(type, vals))
    if kinds <= {str}:
        counts = Counter(map(str.strip, vals))
        counts.pop("", None)
        return counts
    if kinds <= {int}:
        return Counter(map(str, vals))
    return Counter(t for t in map(as_text, vals) if t is not None)


@dataclass
class ValueProfile:
    """How many sampled values matched each class."""

    non_null: int = 0
    distinct: int = 0
    matches: dict[str, int] = field(default_factory=dict)
    id_shaped_bad_check: int = 0

    def fraction(self, cls: str) -> float:
        return self.matches.get(cls, 0) / self.non_null if self.non_null else 0.0


def profile_values(values: Iterable[Any]) -> ValueProfile:
    """Counts over the sample, each distinct value checked once: samples repeat (codes, statuses,
    dates, a region's few names), and the checks are pure. Counted in first-seen order, so
    ``matches`` keys come in the order a value-by-value pass would insert them."""
    counts = _text_counts(values)
    prof = ValueProfile(non_null=sum(counts.values()), distinct=len(counts))
    for t, n in counts.items():
        hit = False
        for cls, check in VALUE_CHECKS.items():
            if check(t):
                prof.matches[cls] = prof.matches.get(cls, 0) + n
                hit = True
        if not hit and _id_shaped(t):
            prof.id_shaped_bad_check += n
    return prof


# ---------------------------------------------------------------------------
# a column's verdict
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    column: str
    pii_class: str | None
    confidence: float
    evidence: str
    method: str  # name | values | name+values | none
    sampled: int
    matches: dict[str, int]

    @property
    def personal_level(self) -> str:
        return PII_CLASSES[self.pii_class].personal_level if self.pii_class else "none"

    @property
    def data_level(self) -> str:
        return PII_CLASSES[self.pii_class].data_level if self.pii_class else "general"


def _value_winner(prof: ValueProfile) -> str | None:
    best: tuple[float, int, str] | None = None
    for cls in PRIORITY:
        if not prof.matches.get(cls):
            continue  # no match: a fraction of 0 never wins (most columns match nothing)
        frac = prof.fraction(cls)
        if frac < THRESHOLDS.get(cls, DEFAULT_THRESHOLD) or frac == 0:
            continue
        if cls == "name" and prof.non_null >= 20 and prof.distinct < 10:
            continue  # a handful of repeated short words is a code list, not people
        key = (frac, -PRIORITY.index(cls), cls)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def detect_column(name: str, cn_name: str | None, values: Iterable[Any]) -> Detection:
    """Classify one column from its names and sampled values."""
    hint = name_hint(name, cn_name)
    prof = profile_values(values)
    n = prof.non_null
    winner = _value_winner(prof)
    notes = []
    if prof.id_shaped_bad_check:
        notes.append(f"{prof.id_shaped_bad_check}/{n} look like resident IDs but fail the check digit")
    if winner is not None:
        k, frac = prof.matches[winner], prof.fraction(winner)
        evidence = f"{k}/{n} sampled values are valid {_label(winner)} ({winner})"
        method, conf = "values", frac
        if hint is not None and (hint.pii_class == winner or {hint.pii_class, winner} == {"phone", "mobile"}):
            method, conf = "name+values", min(0.99, frac + 0.1 * (1 - frac) + 0.05)
            evidence += f"; {hint.reason}"
        elif hint is not None:
            evidence += f"; the name suggested {hint.pii_class} ({hint.reason}) but the values do not"
        return Detection(name, winner, round(min(conf, 0.99), 3), "; ".join([evidence, *notes]), method, n,
                         dict(prof.matches))
    if hint is not None:
        frac = prof.fraction(hint.pii_class)
        id_like = hint.pii_class == "resident_id" and prof.id_shaped_bad_check >= n / 2
        if n >= MIN_VALUES_TO_CONTRADICT and frac < 0.05 and not id_like:
            evidence = (f"{hint.reason}, but only {prof.matches.get(hint.pii_class, 0)}/{n} sampled values "
                        f"are {_label(hint.pii_class)}: not classified")
            return Detection(name, None, round(1 - frac, 3), "; ".join([evidence, *notes]), "values", n,
                             dict(prof.matches))
        conf = hint.score if n == 0 or id_like else min(0.95, hint.score * (0.7 + frac))
        tail = f"; {prof.matches.get(hint.pii_class, 0)}/{n} sampled values match" if n else "; no values sampled"
        return Detection(name, hint.pii_class, round(conf, 3), "; ".join([hint.reason + tail, *notes]), "name", n,
                         dict(prof.matches))
    best_frac = max((prof.fraction(c) for c in prof.matches), default=0.0)
    evidence = f"no PII class matched ({n} values sampled" + (
        f", best match {best_frac:.0%})" if prof.matches else ")")
    return Detection(name, None, round(1 - best_frac, 3), "; ".join([evidence, *notes]), "none", n,
                     dict(prof.matches))
