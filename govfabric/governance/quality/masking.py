"""Sample values are stored masked when a column holds personal data — never raw ID numbers."""

from __future__ import annotations

import re
from typing import Any

from govfabric.identifiers import PII_CHECKS

PERSONAL_TAGS = {"pii", "personal", "sensitive", "personal_sensitive", "个人信息", "敏感个人信息"}
PERSONAL_NAMES = re.compile(r"(sfz|gmsfhm|id_?card|id_?no|idnum|resident|身份证|phone|mobile|sjh|lxdh|电话|手机|"
                            r"xm$|^name$|姓名|address|dz$|住址|地址|email|bank|card|passport|护照)", re.I)
_LOOKS_PERSONAL = re.compile(r"^\s*\d{6,}[\dXx]?\s*$")


def masked_columns(session: Any, asset_id: str) -> set[str]:
    """Physical columns of the asset that a virtual table masks or that are classified personal:
    their failing samples are stored masked whatever their name looks like."""
    from govfabric.governance.security.service import physical_of, pii_columns
    from govfabric.virtualization.read import masked_virtual_columns

    out = pii_columns(session, asset_id)
    out |= {phys for vcol in masked_virtual_columns(session, asset_id) if (phys := physical_of(vcol))}
    return out


def column_is_personal(name: str, tags: list[str] | None, standard: str | None = None) -> bool:
    return (standard == "resident_id" or bool(PERSONAL_TAGS.intersection(t.lower() for t in tags or []))
            or bool(PERSONAL_NAMES.search(name)))


def mask_value(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    s = str(v)
    if len(s) <= 2:
        return "*" * len(s)
    keep = 1 if len(s) < 8 else 3
    return s[:keep] + "*" * (len(s) - keep - 1) + s[-1]


def value_is_personal(v: Any) -> bool:
    if not isinstance(v, str | int):
        return False
    s = str(v)
    return bool(_LOOKS_PERSONAL.match(s)) or any(
        f(s) for k, f in PII_CHECKS.items() if k not in ("uscc",))


def mask_sample(values: list[Any], personal: bool) -> tuple[list[Any], bool]:
    """(values to store, whether any was masked)."""
    out, masked = [], False
    for v in values:
        if personal or value_is_personal(v):
            out.append(mask_value(v))
            masked = masked or v is not None
        else:
            out.append(v)
    return out, masked
