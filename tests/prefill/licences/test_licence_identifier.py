"""GB/T 36904 identifiers: structure and the ISO/IEC 7064 MOD 37,36 check character."""

from __future__ import annotations

import random

import pytest

from govfabric.errors import ValidationFailed
from govfabric.identifiers import generate_uscc
from govfabric.prefill.licences.identifier import (
    ROOT,
    check_char,
    complete_identifier,
    make_identifier,
    parse_identifier,
)

AUTHORITY = generate_uscc(random.Random(1), "110105", authority="1", entity_type="1", org_code="00000001")


def _pure_check(body: str, m: int) -> int:
    """ISO/IEC 7064 hybrid system written out, for MOD 11,10 whose published example is known."""
    p = m
    for c in body:
        p = (p + int(c, 36)) % m or m
        p = (p * 2) % (m + 1)
    return (m + 1 - p) % m


def test_hybrid_system_matches_the_published_mod_11_10_example() -> None:
    assert _pure_check("0794", 10) == 5  # ISO/IEC 7064 annex example


def test_every_single_character_change_is_caught() -> None:
    ident = make_identifier("11100000000000001", AUTHORITY, "00000042")
    body = ident[len(ROOT) + 1:].replace(".", "")[:-1]
    for i in range(len(body)):
        for c in "0123456789AZ":
            if c != body[i]:
                assert check_char(body[:i] + c + body[i + 1:]) != ident[-1]


def test_make_and_parse_round_trip() -> None:
    ident = make_identifier("11100000000000001", AUTHORITY, "00000042")
    parsed = parse_identifier(ident)
    assert (parsed.type_code, parsed.authority_code, parsed.serial, parsed.version) == (
        "11100000000000001", AUTHORITY, "00000042", "001")
    assert str(parsed) == ident


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s[:-1] + ("0" if s[-1] != "0" else "1"), "wrong check character"),
    (lambda s: s.replace(ROOT, "1.2.156.3005.9"), "must start with the root"),
    (lambda s: s.rsplit(".", 2)[0], "parts after the root"),
    (lambda s: s.replace(AUTHORITY, AUTHORITY[:-1] + ("0" if AUTHORITY[-1] != "0" else "1")), "credit code"),
])
def test_bad_identifiers_are_refused_with_the_defect(mutate, message) -> None:
    ident = make_identifier("11100000000000001", AUTHORITY, "00000042")
    with pytest.raises(ValidationFailed, match=message):
        parse_identifier(mutate(ident))


def test_legacy_identifier_without_check_character_is_completed() -> None:
    legacy = f"{ROOT}.11100000000000001.{AUTHORITY}.00000042.001"
    full, completed = complete_identifier(legacy)
    assert completed and full == make_identifier("11100000000000001", AUTHORITY, "00000042")
    assert complete_identifier(full) == (full, False)


def test_an_all_digit_credit_code_is_a_credit_code() -> None:
    """A USCC whose first 17 characters are digits is not taken for a resident ID (it failed import)."""
    from govfabric.prefill.licences.service import holder_type

    assert holder_type("91110101127845529Y") == "uscc"
    assert holder_type("110105199001011232") == "resident_id"
