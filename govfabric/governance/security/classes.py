"""The PII classes govfabric recognises, with their sensitivity and default mask.

Personal levels follow GB/T 35273-2020: Annex A lists personal information (name,
phone number, address, e-mail, vehicle data), Annex B personal *sensitive*
information (identity document numbers, bank accounts). Data levels follow the
data-security grading of general / important / core data: a column holding
personal sensitive information is ``important``; ``core`` is never inferred, only
set by a steward.

Unified social credit codes are not personal information: they are public
registration identifiers, published for every entity including individual
businesses (个体工商户) by the national enterprise credit publicity system, so they
get no default mask (a steward can still set one).
"""

from __future__ import annotations

from dataclasses import dataclass

from govfabric.errors import ValidationFailed

DATA_LEVELS = ("general", "important", "core")
PERSONAL_LEVELS = ("none", "personal", "sensitive")


@dataclass(frozen=True)
class PiiClass:
    name: str
    label_zh: str
    personal_level: str  # none | personal | sensitive (GB/T 35273)
    data_level: str  # general | important | core
    mask: str | None  # default mask rule (virtualization.masks), None: not masked by default
    mask_params: tuple[tuple[str, object], ...] = ()


PII_CLASSES: dict[str, PiiClass] = {c.name: c for c in (
    PiiClass("resident_id", "公民身份号码", "sensitive", "important", "resident_id"),
    PiiClass("passport", "护照号码", "sensitive", "important", "partial", (("first", 1), ("last", 2))),
    PiiClass("bank_card", "银行卡号", "sensitive", "important", "bank_card"),
    PiiClass("mobile", "手机号码", "personal", "general", "mobile"),
    PiiClass("phone", "电话号码", "personal", "general", "mobile"),
    PiiClass("name", "姓名", "personal", "general", "cn_name"),
    PiiClass("address", "地址", "personal", "general", "address"),
    PiiClass("email", "电子邮箱", "personal", "general", "email"),
    PiiClass("licence_plate", "机动车号牌", "personal", "general", "partial", (("first", 2), ("last", 1))),
    PiiClass("uscc", "统一社会信用代码", "none", "general", None),
)}
"""Class name → definition. ``none`` (a steward's "not PII") is handled apart."""

NOT_PII = "none"


def pii_class(name: str) -> PiiClass | None:
    """The class called ``name`` (None for ``none``); unknown names are refused."""
    if name == NOT_PII:
        return None
    cls = PII_CLASSES.get(name)
    if cls is None:
        raise ValidationFailed(f"unknown PII class {name!r}; use one of {', '.join([*PII_CLASSES, NOT_PII])}")
    return cls


def check_level(kind: str, value: str) -> str:
    allowed = DATA_LEVELS if kind == "data" else PERSONAL_LEVELS
    if value not in allowed:
        raise ValidationFailed(f"unknown {kind} level {value!r}; use one of {', '.join(allowed)}")
    return value
