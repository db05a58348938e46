"""Built-in column masks as sqlglot expressions that give identical results on DuckDB and Trino.

Each rule turns the raw column expression into its masked form inside the virtual table's
derived table, so everything the user's query does (WHERE, JOIN, GROUP BY, aggregates) sees
only masked values. Only functions that exist with the same meaning in both engines are used
(``substr``, ``length``, ``lpad``, ``strpos``, ``||``, ``regexp_extract``, ``extract``). The
expressions are engine-neutral except the hash, which ``engine`` selects.

The ``hash`` mask is HMAC-SHA256 keyed with the workspace's mask key
(``fabric.secrets.derive("mask-hash")``, passed by the policy as the reserved ``_key``
parameter), so a masked resident ID cannot be brute-forced from its few million candidates
without the key. Trino computes it with ``hmac_sha256``; DuckDB has no HMAC function, so it
runs the HMAC construction itself: ``sha256((K⊕opad) ‖ sha256((K⊕ipad) ‖ m))`` with both
padded keys as constant blobs. HMAC-SM3 (``alg=sm3``) runs as a Python function registered
on DuckDB's connection (:func:`register_functions`); Trino has no SM3 and refuses it. Every
mask keeps NULL as NULL. String masks count characters, not bytes, so Chinese text masks per
character.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from govfabric.errors import QueryRejected, ValidationFailed

STRING_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "NVARCHAR", "NCHAR", "BPCHAR")

#: Two-character (compound) Chinese surnames kept whole by the ``cn_name`` mask.
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "太史", "端木", "上官", "司马", "东方", "独孤", "南宫", "万俟", "闻人", "夏侯", "诸葛",
    "尉迟", "公羊", "赫连", "澹台", "皇甫", "宗政", "濮阳", "公冶", "太叔", "申屠", "公孙", "慕容",
    "仲孙", "钟离", "长孙", "宇文", "司徒", "鲜于", "司空", "闾丘", "子车", "亓官", "司寇", "巫马",
    "公西", "颛孙", "壤驷", "公良", "漆雕", "乐正", "宰父", "谷梁", "拓跋", "夹谷", "轩辕", "令狐",
    "段干", "百里", "呼延", "东郭", "南门", "羊舌", "微生", "梁丘", "左丘", "东门", "西门", "第五",
    "南荣", "东里", "即墨", "达奚", "褚师", "单于", "范姜", "张廖", "张简",
)  # fmt: skip

def _han_except(excluded: str) -> str:
    """A character class of the CJK unified ideographs without ``excluded`` (RE2 and Trino's
    Joni both lack class subtraction, so the ranges are spelled out)."""
    ranges, start = [], 0x4E00
    for cp in sorted({ord(c) for c in excluded}):
        if cp > start:
            ranges.append(chr(start) + ("-" + chr(cp - 1) if cp - 1 > start else ""))
        start = cp + 1
    ranges.append(chr(start) + "-" + chr(0x9FFF))
    return "[" + "".join(ranges) + "]"


#: Characters of streets, buildings and rooms that no province, prefecture or county name uses
#: after its first character (路北区, 路南区 and 路桥区 start with 路; 楼 is not here: 鼓楼区).
STREET_CHARACTERS = "路街巷弄号栋幢层室院村组"
_NAME = _han_except(STREET_CHARACTERS)
_HAN = "[一-鿿]"

#: Address prefix kept by the ``address`` mask: optional province (…省 / …自治区 / …特别行政区),
#: optional prefecture (…市 / …地区 / …盟 / …自治州), then the FIRST county-level unit (…区 / …县 /
#: …市 / …旗, or …自治县 / …自治旗), each contiguous from the start and a short run of name
#: characters (no digits, punctuation or street characters), so no street, building or landmark
#: after the district is ever kept. Without a county-level unit the whole address is ``***``.
ADDRESS_PATTERN = (
    f"^((?:{_NAME}{{2,5}}?(?:省|自治区|特别行政区))?"
    f"(?:{_NAME}{{2,5}}?(?:市|地区|盟)|{_NAME}{{2,9}}?自治州)?"
    f"(?:{_HAN}{_NAME}{{0,4}}?(?:区|县|市|旗)|{_NAME}{{2,9}}?自治[县旗]))"
)

#: Workspace-key purpose of the hash mask's key (``SecretBox.derive``).
MASK_KEY_PURPOSE = "mask-hash"
#: The reserved parameter the policy passes the key in; users cannot set reserved parameters.
KEY_PARAM = "_key"
RESERVED_PARAMS = frozenset({KEY_PARAM})
#: Shown instead of the key wherever generated SQL is shown (``--explain`` for stewards).
KEY_PLACEHOLDER = "<mask key>"
HASH_ALGORITHMS = ("sha256", "sm3")
#: The DuckDB function computing HMAC-SM3 with the workspace key (never in the SQL text).
SM3_FUNCTION = "gf_hmac_sm3"
_BLOCK = 64  # SHA-256's block size, in bytes

Builder = Callable[[exp.Expression, Mapping[str, Any], str], exp.Expression]


@dataclass(frozen=True)
class MaskRule:
    """A named mask: ``build(raw, params, engine)`` returns the masked expression."""

    name: str
    description: str
    build_fn: Builder
    params: Mapping[str, Any] = field(default_factory=dict)  # name → default
    output_type: str | None = "VARCHAR"  # None: same as the column's type
    string_input: bool = True

    def build(
        self, raw: exp.Expression, params: Mapping[str, Any], engine: str, column_type: str
    ) -> exp.Expression:
        unknown = set(params) - set(self.params) - RESERVED_PARAMS
        if unknown:
            raise ValidationFailed(
                f"mask {self.name} has no parameter {', '.join(sorted(unknown))}; "
                f"it takes: {', '.join(self.params) or 'none'}"
            )
        merged = {**self.params, **params, "_type": column_type}
        if self.string_input and not column_type.upper().startswith(STRING_TYPES):
            raw = exp.cast(raw, "VARCHAR")
        return self.build_fn(raw, merged, engine)


def _num(value: int) -> exp.Expression:
    return exp.Literal.number(value)


def _str(value: str) -> exp.Expression:
    return exp.Literal.string(value)


def _copy(x: exp.Expression) -> exp.Expression:
    return x.copy()


def _length(x: exp.Expression) -> exp.Expression:
    return exp.Length(this=_copy(x))


def _substr(x: exp.Expression, start: exp.Expression | int, length: int | None = None) -> exp.Expression:
    start_e = _num(start) if isinstance(start, int) else start
    return exp.Substring(this=_copy(x), start=start_e, length=_num(length) if length is not None else None)


def _stars(count: exp.Expression) -> exp.Expression:
    """``count`` asterisks (``lpad('', n, '*')``: Trino's ``repeat`` builds arrays, not strings)."""
    return exp.Pad(this=_str(""), expression=exp.cast(count, "INTEGER"), fill_pattern=_str("*"), is_left=True)


def _concat(*parts: exp.Expression) -> exp.Expression:
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=False)
    return out


def _null_safe(x: exp.Expression, masked: exp.Expression) -> exp.Expression:
    return exp.Case(
        ifs=[exp.If(this=exp.Is(this=_copy(x), expression=exp.Null()), true=exp.Null())], default=masked
    )


def _case(cond: exp.Expression, then: exp.Expression, default: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=cond, true=then)], default=default)


def keep_first_last(x: exp.Expression, first: int, last: int) -> exp.Expression:
    """Keep ``first`` leading and ``last`` trailing characters, star the rest (length kept);
    values no longer than ``first + last`` are starred entirely."""
    if first < 0 or last < 0:
        raise ValidationFailed("mask parameters first and last must be ≥ 0")
    length = _length(x)
    middle = _stars(exp.Sub(this=_length(x), expression=_num(first + last)))
    parts: list[exp.Expression] = []
    if first:
        parts.append(_substr(x, 1, first))
    parts.append(middle)
    if last:
        parts.append(_substr(x, exp.Sub(this=_length(x), expression=_num(last - 1))))
    masked = _case(exp.LTE(this=length, expression=_num(first + last)), _stars(_length(x)), _concat(*parts))
    return _null_safe(x, masked)


def _full(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    return _null_safe(x, _str(str(p["text"])))


def _partial(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    return keep_first_last(x, int(p["first"]), int(p["last"]))


def _fixed(first: int, last: int) -> Builder:
    def build(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
        return keep_first_last(x, first, last)

    return build


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _padded(key: bytes, pad: int) -> str:
    """HMAC's inner (0x36) or outer (0x5c) block key, as hex."""
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    return bytes(b ^ pad for b in block.ljust(_BLOCK, b"\0")).hex()


def _hash(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    key = p.get(KEY_PARAM)
    if not isinstance(key, bytes) or len(key) < 16:
        raise QueryRejected("the hash mask has no workspace mask key; it is applied only through the "
                            "workspace's policy (govfabric access policy mask …)")
    alg = str(p["alg"]).lower()
    if alg not in HASH_ALGORITHMS:
        raise ValidationFailed(f"hash mask alg={alg!r} is unknown; use one of {', '.join(HASH_ALGORITHMS)}")
    message = _concat(_str(str(p["salt"])), _copy(x)) if p["salt"] else _copy(x)
    if alg == "sm3":
        if engine != "duckdb":
            raise QueryRejected(f"the column's hash mask is HMAC-SM3, which the {engine} engine cannot compute; "
                                "query it with --engine duckdb (or ask the steward for alg=sha256)")
        return _null_safe(x, _fn(SM3_FUNCTION, message))
    if engine == "trino":
        digest = _fn("to_hex", _fn("hmac_sha256", _fn("to_utf8", message), _fn("from_hex", _str(key.hex()))))
        return _null_safe(x, _fn("lower", digest))
    inner = _fn("sha256", exp.DPipe(this=_fn("unhex", _str(_padded(key, 0x36))), expression=_fn("encode", message)))
    outer = exp.DPipe(this=_fn("unhex", _str(_padded(key, 0x5C))), expression=_fn("unhex", inner))
    return _null_safe(x, _fn("sha256", outer))  # DuckDB's sha256 is lowercase hex already


def _null(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    return exp.cast(exp.Null(), exp.DataType.build(str(p["_type"])))


def _year(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    return exp.cast(exp.Extract(this=exp.var("YEAR"), expression=_copy(x)), "INTEGER")


def _cn_name(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    length = _length(x)
    compound = exp.And(
        this=exp.GTE(this=length, expression=_num(3)),
        expression=exp.In(this=_substr(x, 1, 2), expressions=[_str(s) for s in COMPOUND_SURNAMES]),
    )
    keep2 = _concat(_substr(x, 1, 2), _stars(exp.Sub(this=_length(x), expression=_num(2))))
    keep1 = _concat(_substr(x, 1, 1), _stars(exp.Sub(this=_length(x), expression=_num(1))))
    masked = exp.Case(
        ifs=[
            exp.If(this=compound, true=keep2),
            exp.If(this=exp.GTE(this=_length(x), expression=_num(2)), true=keep1),
        ],
        default=_str("*"),
    )
    return _null_safe(x, masked)


def _email(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    at = exp.StrPosition(this=_copy(x), substr=_str("@"))
    masked = _case(
        exp.GT(this=at, expression=_num(1)),
        _concat(_substr(x, 1, 1), _str("***"), _substr(x, exp.StrPosition(this=_copy(x), substr=_str("@")))),
        _str("***"),
    )
    return _null_safe(x, masked)


def _address(x: exp.Expression, p: Mapping[str, Any], engine: str) -> exp.Expression:
    pattern = _str(ADDRESS_PATTERN)
    masked = _case(
        exp.RegexpLike(this=_copy(x), expression=pattern.copy()),
        _concat(exp.RegexpExtract(this=_copy(x), expression=pattern.copy(), group=_num(1)), _str("***")),
        _str("***"),
    )
    return _null_safe(x, masked)


def _rule(name: str, description: str, fn: Builder, **kwargs: Any) -> tuple[str, MaskRule]:
    return name, MaskRule(name=name, description=description, build_fn=fn, **kwargs)


MASKS: dict[str, MaskRule] = dict(
    [
        _rule("full", "replace every non-null value by a fixed text (default ***)", _full,
              params={"text": "***"}, string_input=False),
        _rule("partial", "keep the first N and last M characters, star the rest", _partial,
              params={"first": 1, "last": 1}),
        _rule("hash", "HMAC-SHA256 (alg=sm3: HMAC-SM3, DuckDB only) keyed with the workspace mask key, "
              "lowercase hex; joins still match across tables", _hash, params={"salt": "", "alg": "sha256"}),
        _rule("null", "always NULL (of the column's type)", _null, output_type=None, string_input=False),
        _rule("year", "a date or timestamp reduced to its year (INTEGER)", _year,
              output_type="INTEGER", string_input=False),
        _rule("cn_name", "Chinese name: keep the surname (compound surnames such as 欧阳 whole)", _cn_name),
        _rule("resident_id", "resident ID number: keep the first 6 and last 4", _fixed(6, 4)),
        _rule("mobile", "mobile number: keep the first 3 and last 4", _fixed(3, 4)),
        _rule("credit_code", "unified social credit code: keep the first 8 (authority, type, "
              "division) and the check character", _fixed(8, 1)),
        _rule("bank_card", "bank card number: keep the first 6 and last 4", _fixed(6, 4)),
        _rule("email", "keep the first character and the @domain", _email),
        _rule("address", "keep the address up to its district (区/县/市/旗), then ***", _address),
    ]
)  # fmt: skip


def apply_mask(
    raw: exp.Expression, spec_rule: str, params: Mapping[str, Any], engine: str, column_type: str
) -> exp.Expression:
    """The masked form of ``raw`` for ``engine``; unknown rules are refused."""
    rule = MASKS.get(spec_rule)
    if rule is None:
        raise ValidationFailed(f"unknown mask rule {spec_rule!r}; known rules: {', '.join(MASKS)}")
    return rule.build(raw, params, engine, column_type)


def check_params(rule: str, params: Mapping[str, Any]) -> None:
    """Refuse, when a mask is set, parameters the rule does not take (reserved ones included)."""
    mask = MASKS.get(rule)
    if mask is None:
        raise ValidationFailed(f"unknown mask rule {rule!r}; rules: {', '.join(sorted(MASKS))}")
    unknown = set(params) - set(mask.params)
    if unknown:
        raise ValidationFailed(f"mask {rule} has no parameter {', '.join(sorted(unknown))}; "
                               f"it takes: {', '.join(mask.params) or 'none'}")
    if rule == "hash" and str(params.get("alg", "sha256")).lower() not in HASH_ALGORITHMS:
        raise ValidationFailed(f"hash mask alg={params['alg']!r} is unknown; use one of {', '.join(HASH_ALGORITHMS)}")


def mask_key(fabric: Any) -> bytes:
    """The workspace's key for hash masks (derived, never the workspace key itself)."""
    return bytes(fabric.secrets.derive(MASK_KEY_PURPOSE))


def keyed(params: Mapping[str, Any] | None, fabric: Any) -> dict[str, Any]:
    """A stored mask's parameters with the mask key added as the reserved ``_key``."""
    return {**(params or {}), KEY_PARAM: mask_key(fabric)}


def redact_key(text: str, key: bytes) -> str:
    """``text`` with every form of ``key`` generated SQL holds (the key and HMAC's two padded
    block keys, as hex in any case) replaced by :data:`KEY_PLACEHOLDER`."""
    for form in (key.hex(), _padded(key, 0x36), _padded(key, 0x5C)):
        text = re.sub(re.escape(form), KEY_PLACEHOLDER, text, flags=re.IGNORECASE)
    return text


def hmac_sm3_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), "sm3").hexdigest()


def register_functions(con: Any, key: bytes) -> None:
    """Register the HMAC-SM3 mask function on a DuckDB connection (before it is locked); the key
    stays in the closure, out of every SQL text."""
    import duckdb

    def fn(message: str) -> str:
        return hmac_sm3_hex(key, message)

    con.create_function(SM3_FUNCTION, fn, [duckdb.sqltype("VARCHAR")], duckdb.sqltype("VARCHAR"),
                        side_effects=False)
