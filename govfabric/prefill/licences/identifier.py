"""E-licence identifiers (电子证照标识) after GB/T 36904-2018.

The structure implemented (the standard's text is not bundled; this is its commonly documented
form, and what the demo's licence library writes):

    1.2.156.3005.2 . <type code> . <issuing authority code> . <serial> . <version> . <check>

- ``1.2.156.3005.2``: the root (the OID arc of China's e-licences);
- type code (证照类型代码): 6–32 characters ``0-9A-Z``;
- issuing authority code (颁发机构代码): the authority's 18-character unified social credit code,
  validated with :func:`govfabric.identifiers.validate_uscc`;
- serial (流水号): 1–32 characters ``0-9A-Z``;
- version (版本号): 3 digits;
- check character (校验位): ISO/IEC 7064 MOD 37,36 (GB/T 17710) over the concatenation of type code,
  authority code, serial and version (no dots, no root).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from govfabric.errors import ValidationFailed
from govfabric.identifiers import validate_uscc

ROOT = "1.2.156.3005.2"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_TYPE = re.compile(r"^[0-9A-Z]{6,32}$")
_SERIAL = re.compile(r"^[0-9A-Z]{1,32}$")
_VERSION = re.compile(r"^[0-9]{3}$")


@dataclass(frozen=True)
class LicenceIdentifier:
    type_code: str
    authority_code: str
    serial: str
    version: str
    check: str

    def __str__(self) -> str:
        return ".".join((ROOT, self.type_code, self.authority_code, self.serial, self.version, self.check))


def _mod37_36(body: str) -> int:
    """The running value of ISO/IEC 7064 MOD 37,36 (a hybrid system, M = 36) after ``body``."""
    m = 36
    p = m
    for c in body:
        p = (p + _VALUE[c]) % m or m
        p = (p * 2) % (m + 1)
    return p


def check_char(body: str) -> str:
    """The MOD 37,36 check character of ``body`` (characters ``0-9A-Z``)."""
    bad = [c for c in body if c not in _VALUE]
    if bad:
        raise ValidationFailed(f"{body!r}: {bad[0]!r} is not one of 0-9, A-Z")
    return ALPHABET[(37 - _mod37_36(body)) % 36]


def make_identifier(type_code: str, authority_code: str, serial: str, version: str = "001") -> str:
    """A complete identifier with its check character (parts validated)."""
    ident = LicenceIdentifier(type_code, authority_code, serial, version, "")
    _check_parts(ident, f"{ROOT}.{type_code}.{authority_code}.{serial}.{version}")
    return str(LicenceIdentifier(type_code, authority_code, serial, version,
                                 check_char(type_code + authority_code + serial + version)))


def _check_parts(ident: LicenceIdentifier, text: str) -> None:
    if not _TYPE.match(ident.type_code):
        raise ValidationFailed(f"licence identifier {text!r}: type code {ident.type_code!r} must be 6-32 "
                               "characters 0-9, A-Z")
    problem = authority_problem(ident.authority_code)
    if problem is not None:
        raise ValidationFailed(f"licence identifier {text!r}: the issuing authority code is not a valid "
                               f"unified social credit code ({problem})")
    if not _SERIAL.match(ident.serial):
        raise ValidationFailed(f"licence identifier {text!r}: serial {ident.serial!r} must be 1-32 "
                               "characters 0-9, A-Z")
    if not _VERSION.match(ident.version):
        raise ValidationFailed(f"licence identifier {text!r}: version {ident.version!r} must be 3 digits")


@lru_cache(maxsize=4096)
def authority_problem(code: str) -> str | None:
    """What :func:`validate_uscc` says of an issuing authority's code, or None: remembered, as an
    import checks the same few authorities' codes several times for each of thousands of licences."""
    try:
        validate_uscc(code)
    except ValidationFailed as exc:
        return str(exc)
    return None


def parse_identifier(text: str) -> LicenceIdentifier:
    """Parse and validate an identifier; :class:`ValidationFailed` names the first defect."""
    if not isinstance(text, str) or not text.startswith(ROOT + "."):
        raise ValidationFailed(f"licence identifier {text!r} must start with the root {ROOT}. "
                               "(GB/T 36904: root.type.authority.serial.version.check)")
    parts = text[len(ROOT) + 1:].split(".")
    if len(parts) != 5:
        raise ValidationFailed(f"licence identifier {text!r} has {len(parts)} parts after the root; it needs "
                               "5: type code, authority code, serial, version, check character")
    ident = LicenceIdentifier(*parts)
    _check_parts(ident, text)
    expected = check_char(ident.type_code + ident.authority_code + ident.serial + ident.version)
    if ident.check != expected:
        raise ValidationFailed(f"licence identifier {text!r}: wrong check character {ident.check!r}; "
                               f"expected {expected!r} (ISO/IEC 7064 MOD 37,36)")
    return ident


def complete_identifier(text: str) -> tuple[str, bool]:
    """``text`` with its check character appended when it has only the four parts before it (legacy
    systems, such as the demo's library, write identifiers without one); (identifier, completed)."""
    if isinstance(text, str) and text.startswith(ROOT + ".") and len(text[len(ROOT) + 1:].split(".")) == 4:
        return make_identifier(*text[len(ROOT) + 1:].split(".")), True
    return text, False
