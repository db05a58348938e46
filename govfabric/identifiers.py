"""Validators and generators for the identifiers Chinese government data is keyed by.

Quality rules, PII detection, the demo generator and the prefill service all need to
tell a real unified social credit code (GB 32100-2015) or resident identity number
(GB 11643-1999) from a typo, and to suggest the nearest valid value when they are not.
``validate_*`` raise :class:`ValidationFailed` naming the exact defect; ``is_valid_*``
answer yes/no; ``*_candidates`` propose corrections for governance issues.
"""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Literal, NamedTuple

from govfabric.errors import ValidationFailed

# ---------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码), GB 32100-2015
# ---------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 symbols of GB 32100: digits and capitals without I, O, Z, S, V."""

_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

USCC_AUTHORITIES: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师执业机构",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}
"""Position 1 (registration authority) → (name, {position 2 entity type → name})."""

PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
"""First two digits of a GB/T 2260 division code (83: Taiwan residence permits)."""

_CONFUSABLE = {"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"}


def org_code_check_char(first8: str) -> str:
    """GB 11714 check character for an 8-character organisation code body."""
    if len(first8) != 8 or not all("0" <= c <= "9" or "A" <= c <= "Z" for c in first8):
        raise ValidationFailed(
            f"organisation code body {first8!r} must be 8 digits or capital letters "
            "(the first 8 characters of the code)"
        )
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_CODE_WEIGHTS, strict=True))
    r = 11 - total % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def uscc_check_char(first17: str) -> str:
    """GB 32100 check character (position 18) for the first 17 characters."""
    if len(first17) != 17:
        raise ValidationFailed(f"need the first 17 characters of a credit code, got {len(first17)}")
    for i, c in enumerate(first17, 1):
        if c not in _USCC_VALUE:
            raise ValidationFailed(
                f"illegal character {c!r} at position {i} of credit code; only {USCC_ALPHABET} are allowed"
            )
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> None:
    """Raise :class:`ValidationFailed` with the first defect of a unified social credit code."""
    if not isinstance(code, str):
        raise ValidationFailed(f"a credit code must be a string, got {type(code).__name__}")
    if len(code) != 18:
        raise ValidationFailed(
            f"credit code {code!r} has {len(code)} characters; a unified social credit code has 18"
        )
    for i, c in enumerate(code, 1):
        if c not in _USCC_VALUE:
            hint = " (use capital letters)" if c.upper() in _USCC_VALUE else ""
            if c.upper() in _CONFUSABLE:
                hint = f" (I, O, Z, S, V are never used; did you mean {_CONFUSABLE[c.upper()]!r}?)"
            raise ValidationFailed(f"credit code {code!r}: illegal character {c!r} at position {i}{hint}")
    authority = USCC_AUTHORITIES.get(code[0])
    if authority is None:
        raise ValidationFailed(
            f"credit code {code!r}: {code[0]!r} at position 1 is not a registration authority code "
            f"(allowed: {''.join(USCC_AUTHORITIES)})"
        )
    if code[1] not in authority[1]:
        raise ValidationFailed(
            f"credit code {code!r}: {code[1]!r} at position 2 is not an entity type of authority "
            f"{code[0]} ({authority[0]}); allowed: {''.join(authority[1])}"
        )
    division = code[2:8]
    for i, c in enumerate(division, 3):
        if not c.isdigit():
            raise ValidationFailed(
                f"credit code {code!r}: positions 3-8 are the administrative division code; "
                f"{c!r} at position {i} is not a digit"
            )
    if division[:2] not in PROVINCE_CODES and division != "100000":
        raise ValidationFailed(
            f"credit code {code!r}: division code {division} does not start with a province code"
        )
    org_expected = org_code_check_char(code[8:16])
    if code[16] != org_expected:
        raise ValidationFailed(
            f"credit code {code!r}: wrong organisation code check character at position 17: "
            f"expected {org_expected!r}, got {code[16]!r}"
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise ValidationFailed(
            f"credit code {code!r}: wrong check character at position 18: expected {expected!r}, "
            f"got {code[17]!r}"
        )


def is_valid_uscc(code: object) -> bool:
    """True when ``code`` is a valid unified social credit code."""
    if not isinstance(code, str):
        return False
    try:
        validate_uscc(code)
    except ValidationFailed:
        return False
    return True


def generate_uscc(
    rng: random.Random,
    division: str = "110105",
    *,
    authority: str = "9",
    entity_type: str = "1",
    org_code: str | None = None,
) -> str:
    """A valid credit code: ``org_code`` (8-char body) or a random one of the post-2015 ``MA`` style."""
    if org_code is None:
        org_code = "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(6))
    if len(division) != 6 or not division.isdigit():
        raise ValidationFailed(f"division {division!r} must be a 6-digit administrative division code")
    first17 = authority + entity_type + division + org_code + org_code_check_char(org_code)
    code = first17 + uscc_check_char(first17)
    validate_uscc(code)
    return code


def _dedupe(items: list[str], exclude: str) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item != exclude:
            seen.setdefault(item, None)
    return list(seen)


def uscc_candidates(bad_code: str) -> list[str]:
    """Valid credit codes one plausible edit away from ``bad_code``, most likely first.

    Tried in order: case and look-alike fixes (O→0, I→1, Z→2, S→5, V→U), a recomputed check
    character, adjacent transpositions, single substitutions, one missing or one extra character.
    """
    code = bad_code.strip().upper()
    tries: list[str] = []
    fixed = "".join(_CONFUSABLE.get(c, c) for c in code)
    tries.append(fixed)
    code = fixed
    if len(code) == 18 and all(c in _USCC_VALUE for c in code[:17]):
        tries.append(code[:17] + uscc_check_char(code[:17]))
    if len(code) == 17 and all(c in _USCC_VALUE for c in code):
        tries.append(code + uscc_check_char(code))
    if len(code) == 18:
        for i in range(17):
            tries.append(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
        for i in range(18):
            tries.extend(code[:i] + c + code[i + 1 :] for c in USCC_ALPHABET if c != code[i])
    elif len(code) == 17:
        for i in range(18):
            tries.extend(code[:i] + c + code[i:] for c in USCC_ALPHABET)
    elif len(code) == 19:
        tries.extend(code[:i] + code[i + 1 :] for i in range(19))
    return _dedupe([t for t in tries if is_valid_uscc(t)], bad_code)


# ---------------------------------------------------------------------------
# Resident identity number (公民身份号码), GB 11643-1999
# ---------------------------------------------------------------------------

RESIDENT_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_RESIDENT_CHECK = "10X98765432"

Sex = Literal["M", "F"]


class ResidentId(NamedTuple):
    division: str
    birth_date: date
    sex: Sex


def resident_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValidationFailed(f"need the first 17 digits of a resident ID number, got {first17!r}")
    return _RESIDENT_CHECK[sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True)) % 11]


def _birth(text: str, number: str, today: date | None) -> date:
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise ValidationFailed(f"resident ID {number!r}: birth date {text} is not a real date") from None
    if born.year < 1900:
        raise ValidationFailed(f"resident ID {number!r}: birth date {born} is before 1900")
    if born > (today or date.today()):
        raise ValidationFailed(f"resident ID {number!r}: birth date {born} is in the future")
    return born


def validate_resident_id(number: str, *, today: date | None = None) -> None:
    """Raise :class:`ValidationFailed` with the first defect of an 18-digit resident ID number."""
    if not isinstance(number, str):
        raise ValidationFailed(f"a resident ID number must be a string, got {type(number).__name__}")
    if len(number) == 15 and number.isascii() and number.isdigit():
        raise ValidationFailed(
            f"resident ID {number!r} is the old 15-digit form; convert it to 18 digits "
            "(govfabric.identifiers.upgrade_15_to_18) before storing it"
        )
    if len(number) != 18:
        raise ValidationFailed(f"resident ID {number!r} has {len(number)} characters; it must have 18")
    for i, c in enumerate(number[:17], 1):
        if not ("0" <= c <= "9"):
            raise ValidationFailed(
                f"resident ID {number!r}: illegal character {c!r} at position {i}; positions 1-17 are digits"
            )
    last = number[17]
    if last == "x":
        raise ValidationFailed(f"resident ID {number!r}: the check character must be a capital 'X'")
    if not ("0" <= last <= "9" or last == "X"):
        raise ValidationFailed(
            f"resident ID {number!r}: illegal character {last!r} at position 18; use a digit or 'X'"
        )
    if number[:2] not in PROVINCE_CODES:
        raise ValidationFailed(
            f"resident ID {number!r}: division code {number[:6]} does not start with a province code"
        )
    _birth(number[6:14], number, today)
    expected = resident_id_check_char(number[:17])
    if last != expected:
        raise ValidationFailed(
            f"resident ID {number!r}: wrong check character at position 18: "
            f"expected {expected!r}, got {last!r}"
        )


def is_valid_resident_id(number: object, *, today: date | None = None) -> bool:
    """True when ``number`` is a valid 18-digit resident ID number."""
    if not isinstance(number, str):
        return False
    try:
        validate_resident_id(number, today=today)
    except ValidationFailed:
        return False
    return True


def parse_resident_id(number: str) -> ResidentId:
    """(division, birth date, sex) of a valid resident ID number; the 17th digit is odd for men."""
    validate_resident_id(number)
    return ResidentId(number[:6], _birth(number[6:14], number, None), "M" if int(number[16]) % 2 else "F")


def generate_resident_id(rng: random.Random, division: str, birth: date, sex: str) -> str:
    """A valid resident ID number; ``sex`` is ``M``/``F`` (or 男/女)."""
    if len(division) != 6 or not division.isdigit():
        raise ValidationFailed(f"division {division!r} must be a 6-digit administrative division code")
    if sex not in ("M", "F", "男", "女"):
        raise ValidationFailed(f"sex {sex!r} must be 'M' or 'F' (or 男/女)")
    male = sex in ("M", "男")
    seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
    first17 = f"{division}{birth:%Y%m%d}{seq:03d}"
    return first17 + resident_id_check_char(first17)


def upgrade_15_to_18(old: str) -> str:
    """Convert a first-generation 15-digit ID (born 19YY) to the 18-digit form."""
    if len(old) != 15 or not old.isascii() or not old.isdigit():
        raise ValidationFailed(f"{old!r} is not a 15-digit resident ID number")
    first17 = old[:6] + "19" + old[6:]
    number = first17 + resident_id_check_char(first17)
    validate_resident_id(number)
    return number


def resident_id_candidates(bad: str) -> list[str]:
    """Valid resident ID numbers one plausible edit away from ``bad``, most likely first."""
    number = bad.strip()
    tries: list[str] = []
    if len(number) == 15 and number.isdigit():
        try:
            tries.append(upgrade_15_to_18(number))
        except ValidationFailed:
            pass
    number = number.upper().replace("O", "0").replace("I", "1")
    tries.append(number)
    if len(number) == 18 and number[:17].isdigit():
        tries.append(number[:17] + resident_id_check_char(number[:17]))
    if len(number) == 17 and number.isdigit():
        tries.append(number + resident_id_check_char(number))
    if len(number) == 18:
        for i in range(17):
            tries.append(number[:i] + number[i + 1] + number[i] + number[i + 2 :])
        for i in range(17):
            tries.extend(number[:i] + d + number[i + 1 :] for d in "0123456789" if d != number[i])
    elif len(number) == 19:
        tries.extend(number[:i] + number[i + 1 :] for i in range(19))
    return _dedupe([t for t in tries if is_valid_resident_id(t)], bad)


# ---------------------------------------------------------------------------
# Small validators for PII detection
# ---------------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9]\d{9}")
_PROVINCES_ABBR = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "A-HJ-NP-Z"
_PLATE = re.compile(
    rf"[{_PROVINCES_ABBR}][{_PLATE_LETTER}]"
    rf"(?:[{_PLATE_LETTER}0-9]{{4}}[{_PLATE_LETTER}0-9挂学警港澳]"  # ordinary: 京A12345
    rf"|[DF][{_PLATE_LETTER}0-9]\d{{4}}|\d{{5}}[DF])"  # new energy: 京AD12345 / 京A12345D
)
_PASSPORT = re.compile(r"[EG]\d{8}|E[A-HJ-NP-Z]\d{7}|[DSP]E?\d{7}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def is_mobile(value: str) -> bool:
    """Mainland mobile number: 11 digits, ``1[3-9]`` prefix (no country code)."""
    return bool(_MOBILE.fullmatch(value))


def is_luhn_valid(digits: str) -> bool:
    """Luhn (ISO/IEC 7812) check over a string of digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_bank_card(value: str) -> bool:
    """Bank card number: 16-19 digits passing the Luhn check."""
    return 16 <= len(value) <= 19 and is_luhn_valid(value)


def is_licence_plate(value: str) -> bool:
    """Ordinary (京A12345) or new-energy (京AD12345, 京A12345D) vehicle plate."""
    return bool(_PLATE.fullmatch(value))


def is_passport(value: str) -> bool:
    """PRC passport numbers: E/G + 8 digits, E + letter + 7 digits, D/S/P(E) + 7 digits."""
    return bool(_PASSPORT.fullmatch(value))


def is_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL.fullmatch(value))


PII_CHECKS = {
    "resident_id": is_valid_resident_id,
    "uscc": is_valid_uscc,
    "mobile": is_mobile,
    "bank_card": is_bank_card,
    "licence_plate": is_licence_plate,
    "passport": is_passport,
    "email": is_email,
}
"""Name → predicate, for detectors that scan sample values."""
