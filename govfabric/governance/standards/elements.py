"""Data-element and naming-rule definitions: validation, value checks, and the defaults shipped.

An element's value check is the conjunction of its format (a regular expression the
whole value matches), its code list (allowed values) and an optional named validator
for what a regex cannot say (check digits, real dates, province prefixes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from govfabric.errors import ValidationFailed
from govfabric.identifiers import PROVINCE_CODES, is_email, is_mobile, is_valid_resident_id, is_valid_uscc

DATA_TYPES = ("string", "integer", "decimal", "date", "datetime", "boolean", "code")
APPLIES_TO = ("table", "column")
RULE_KINDS = ("pattern", "forbidden_words", "max_length")
IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def _is_date(v: str) -> bool:
    try:
        date.fromisoformat(v[:10])
    except ValueError:
        return False
    return True


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "resident_id": is_valid_resident_id,
    "uscc": is_valid_uscc,
    "division": lambda v: len(v) == 6 and v.isdigit() and (v[:2] in PROVINCE_CODES or v == "100000"),
    "mobile": is_mobile,
    "email": is_email,
    "date": _is_date,
}
"""Named checks an element may use beyond its format and code list."""


@dataclass(frozen=True)
class ElementSpec:
    """A validated element definition (what ``add_element`` stores)."""

    identifier: str
    name: str
    cn_name: str
    definition: str
    data_type: str
    format: str | None = None
    code_list: dict[str, str] = field(default_factory=dict)
    validator: str | None = None
    keywords: tuple[str, ...] = ()
    standard: str | None = None


def check_element(spec: ElementSpec) -> ElementSpec:
    """Refuse a malformed element definition with the exact defect."""
    if not IDENTIFIER_RE.match(spec.identifier or ""):
        raise ValidationFailed(f"element identifier {spec.identifier!r} must be 2–64 lowercase letters, digits, "
                               "'_', '.' or '-', starting with a letter")
    for what, v in (("name", spec.name), ("cn_name", spec.cn_name)):
        if not (v or "").strip():
            raise ValidationFailed(f"element {spec.identifier}: {what} is required")
    if spec.data_type not in DATA_TYPES:
        raise ValidationFailed(f"element {spec.identifier}: data type {spec.data_type!r} is not one of "
                               + ", ".join(DATA_TYPES))
    if spec.format is not None:
        try:
            re.compile(spec.format)
        except re.error as exc:
            raise ValidationFailed(f"element {spec.identifier}: format {spec.format!r} is not a valid regular "
                                   f"expression ({exc})") from None
    if not isinstance(spec.code_list, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in spec.code_list.items()):
        raise ValidationFailed(f"element {spec.identifier}: the code list must map non-empty codes to meanings "
                               "(e.g. 1=男,2=女)")
    if spec.validator is not None and spec.validator not in VALIDATORS:
        raise ValidationFailed(f"element {spec.identifier}: unknown validator {spec.validator!r}; use one of "
                               + ", ".join(VALIDATORS))
    if spec.format and spec.code_list:
        bad = [c for c in spec.code_list if not re.fullmatch(spec.format, c)]
        if bad:
            raise ValidationFailed(f"element {spec.identifier}: code(s) {', '.join(bad[:5])} do not match its "
                                   f"own format {spec.format}")
    return spec


def parse_code_list(text: str | None) -> dict[str, str]:
    """``"0=未知的性别,1=男性"`` → ``{"0": "未知的性别", "1": "男性"}`` (also 、 and ；)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in re.split(r"[,，;；、]", text):
        item = item.strip()
        if not item:
            continue
        code, eq, meaning = item.partition("=")
        if not eq or not code.strip():
            raise ValidationFailed(f"code list item {item!r} must look like CODE=MEANING")
        out[code.strip()] = meaning.strip()
    return out


def value_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def conforms(el: Any, value: Any) -> bool | None:
    """Whether one value conforms to element ``el`` (None: empty, not judged)."""
    text = value_text(value)
    if text is None:
        return None
    if el.format and not re.fullmatch(el.format, text):
        return False
    if el.code_list and text not in el.code_list:
        return False
    return not (el.validator and not VALIDATORS[el.validator](text))


def check_rule(name: str, applies_to: str, kind: str, pattern: str | None, words: list[str] | None,
               max_length: int | None) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,63}", name or ""):
        raise ValidationFailed(f"rule name {name!r} must be 2–64 lowercase letters, digits, '_', '.' or '-'")
    if applies_to not in APPLIES_TO:
        raise ValidationFailed(f"rule {name}: applies_to {applies_to!r} must be one of {', '.join(APPLIES_TO)}")
    if kind not in RULE_KINDS:
        raise ValidationFailed(f"rule {name}: kind {kind!r} must be one of {', '.join(RULE_KINDS)}")
    if kind == "pattern":
        if not pattern:
            raise ValidationFailed(f"rule {name}: a pattern rule needs --pattern REGEX")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationFailed(f"rule {name}: {pattern!r} is not a valid regular expression ({exc})") from None
    if kind == "forbidden_words" and not words:
        raise ValidationFailed(f"rule {name}: a forbidden_words rule needs --words w1,w2,…")
    if kind == "max_length" and (not max_length or max_length < 1):
        raise ValidationFailed(f"rule {name}: a max_length rule needs --max-length N (≥ 1)")


def rule_violation(rule: Any, name: str) -> str | None:
    """Why ``name`` breaks ``rule``, or None."""
    if rule.kind == "pattern" and not re.search(rule.pattern, name):
        return f"{name!r} does not match {rule.pattern}"
    if rule.kind == "forbidden_words" and name.lower() in {w.lower() for w in rule.words}:
        return f"{name!r} is a forbidden word"
    if rule.kind == "max_length" and len(name) > (rule.max_length or 0):
        return f"{name!r} is {len(name)} characters long (limit {rule.max_length})"
    return None


# ---------------------------------------------------------------------------
# defaults
# ---------------------------------------------------------------------------

ETHNICITIES = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 "
    "傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 "
    "毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 "
    "塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
).split()
"""GB/T 3304-1991, in code order (01 汉族 … 56 基诺族)."""

DEFAULT_ELEMENTS: tuple[ElementSpec, ...] = (
    ElementSpec("sex_code", "sex code", "性别代码", "人的性别代码（GB/T 2261.1-2003）", "code", r"[0129]",
                {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}, None,
                ("xb", "xbdm", "sex", "gender", "sex_code", "性别"), "GB/T 2261.1-2003"),
    ElementSpec("sex_text", "sex (text)", "性别", "人的性别，以中文名称记录", "string", None,
                {"男": "1", "女": "2", "未知": "0", "未说明": "9"}, None,
                ("xb", "sex", "gender", "性别"), "GB/T 2261.1-2003"),
    ElementSpec("division_code", "administrative division code", "行政区划代码",
                "县级及以上行政区划代码，6 位数字，前两位为省级代码（GB/T 2260）", "code", r"\d{6}", {}, "division",
                ("xzqh", "xzqhdm", "qhdm", "division_code", "adcode", "行政区划"), "GB/T 2260-2007"),
    ElementSpec("resident_id", "citizen identity number", "公民身份号码",
                "18 位公民身份号码，末位为 ISO 7064 MOD 11-2 校验码（GB 11643-1999）", "string",
                r"\d{17}[0-9X]", {}, "resident_id",
                ("sfzh", "sfzhm", "gmsfhm", "idcard", "id_no", "resident_id", "身份证", "公民身份号码"),
                "GB 11643-1999"),
    ElementSpec("uscc", "unified social credit code", "统一社会信用代码",
                "18 位统一社会信用代码，含登记管理部门、机构类别、行政区划、主体标识与校验码（GB 32100-2015）",
                "string", r"[0-9A-HJ-NPQRTUWXY]{18}", {}, "uscc",
                ("tyshxydm", "shxydm", "xydm", "uscc", "credit_code", "统一社会信用代码", "信用代码"), "GB 32100-2015"),
    ElementSpec("mobile", "mobile number", "手机号码", "中国大陆 11 位移动电话号码", "string", r"1[3-9]\d{9}", {},
                None, ("sjhm", "sjh", "mobile", "cellphone", "手机"), None),
    ElementSpec("date", "calendar date", "日期", "公历日期，格式 YYYY-MM-DD（GB/T 7408）", "date",
                r"\d{4}-\d{2}-\d{2}", {}, "date",
                ("rq", "date", "csrq", "clrq", "fzrq", "jcrq", "jarq", "日期"), "GB/T 7408-2005"),
    ElementSpec("ethnicity_code", "ethnicity code", "民族代码", "中国各民族名称的罗马字母拼写法和代码（GB/T 3304）",
                "code", r"\d{2}", {f"{i:02d}": n for i, n in enumerate(ETHNICITIES, 1)}, None,
                ("mzdm", "ethnicity_code", "民族代码"), "GB/T 3304-1991"),
    ElementSpec("ethnicity_name", "ethnicity name", "民族", "民族名称（GB/T 3304）", "string", None,
                {n: f"{i:02d}" for i, n in enumerate(ETHNICITIES, 1)}, None,
                ("mz", "minzu", "ethnicity", "民族"), "GB/T 3304-1991"),
    ElementSpec("email", "e-mail address", "电子邮箱", "电子邮件地址", "string", None, {}, "email",
                ("email", "dzyx", "mail", "邮箱", "电子邮件"), None),
)  # fmt: skip


@dataclass(frozen=True)
class RuleSpec:
    name: str
    applies_to: str
    kind: str
    pattern: str | None = None
    words: tuple[str, ...] = ()
    max_length: int | None = None
    description: str = ""


SQL_RESERVED = ("select", "from", "where", "table", "order", "group", "by", "user", "desc", "asc", "index", "key",
                "limit", "offset", "join", "union", "all", "and", "or", "not", "null", "date", "time", "timestamp")

DEFAULT_RULES: tuple[RuleSpec, ...] = (
    RuleSpec("table-snake-case", "table", "pattern", r"^[a-z][a-z0-9_]*$",
             description="表名用小写字母、数字和下划线，字母开头"),
    RuleSpec("table-prefix", "table", "pattern", r"^(t|v|dm|dim|fact|ods|dwd|dws|ads|tmp)_",
             description="表名以类型/层次前缀开头：t_ 业务表、dm_ 代码表、v_ 视图、ods_/dwd_/dws_/ads_ 分层"),
    RuleSpec("table-max-length", "table", "max_length", max_length=63,
             description="表名不超过 63 个字符（PostgreSQL 标识符上限）"),
    RuleSpec("column-snake-case", "column", "pattern", r"^[a-z][a-z0-9_]*$",
             description="字段名用小写字母、数字和下划线（拼音首字母缩写或英文），字母开头"),
    RuleSpec("column-max-length", "column", "max_length", max_length=63, description="字段名不超过 63 个字符"),
    RuleSpec("column-reserved-words", "column", "forbidden_words", words=SQL_RESERVED,
             description="字段名不得使用 SQL 保留字"),
)
