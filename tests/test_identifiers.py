from __future__ import annotations

import random
from datetime import date

import pytest

from govfabric.errors import ValidationFailed
from govfabric.identifiers import (
    PII_CHECKS,
    USCC_ALPHABET,
    generate_resident_id,
    generate_uscc,
    is_bank_card,
    is_email,
    is_licence_plate,
    is_luhn_valid,
    is_mobile,
    is_passport,
    is_valid_resident_id,
    is_valid_uscc,
    org_code_check_char,
    parse_resident_id,
    resident_id_candidates,
    resident_id_check_char,
    upgrade_15_to_18,
    uscc_candidates,
    uscc_check_char,
    validate_resident_id,
    validate_uscc,
)

# The sample printed in GB 32100 explanations. By hand:
#   organisation code M000100Y: M=22, Y=34 -> 22*3 + 1*5 + 34*2 = 139; 139 mod 11 = 7; 11-7 = 4
#   credit code: M=21, Y=30 in the 31-symbol alphabet ->
#   9*1 + 1*3 + 3*9 + 5*27 + 1*26 + 21*20 + 1*8 + 30*30 + 4*28 = 1640; 1640 mod 31 = 28; 31-28 = 3
SAMPLE_USCC = "91350100M000100Y43"
# GB 11643's own example: 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 -> 'X'
SAMPLE_ID = "11010519491231002X"
# GB 11643's other example, born 1880: sum 195, 195 mod 11 = 8 -> '4' (right check, but before 1900)
SAMPLE_ID_1880 = "440524188001010014"


def _reason(fn, value, **kw) -> str:
    with pytest.raises(ValidationFailed) as err:
        fn(value, **kw)
    return str(err.value)


# -- unified social credit code ----------------------------------------------------------------------


def test_published_uscc_sample_is_valid_and_check_chars_match_hand_computation():
    validate_uscc(SAMPLE_USCC)
    assert is_valid_uscc(SAMPLE_USCC)
    assert org_code_check_char("M000100Y") == "4"
    assert uscc_check_char(SAMPLE_USCC[:17]) == "3"


def test_alphabet_and_weights_follow_the_standard():
    assert len(USCC_ALPHABET) == 31 and not set("IOZSV") & set(USCC_ALPHABET)
    # every body keeps its check character inside the alphabet
    assert {uscc_check_char("9111010500000000" + c) for c in "0123456789X"} <= set(USCC_ALPHABET)


def test_org_code_check_maps_10_to_x_and_11_to_0():
    # weights 3,7,9,10,5,8,4,2; check = 11 - sum mod 11
    assert org_code_check_char("00000000") == "0"  # 11 -> '0'
    assert org_code_check_char("10000000") == "8"  # 3 -> 8
    assert org_code_check_char("00000010") == "7"  # 4 -> 7
    assert org_code_check_char("00000001") == "9"  # 2 -> 9
    assert org_code_check_char("00500000") == "X"  # 45 mod 11 = 1 -> 10 -> 'X'
    with pytest.raises(ValidationFailed):
        org_code_check_char("0050000")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y4", "has 17 characters"),
        ("91350100M000100Y433", "has 19 characters"),
        ("91350100m000100Y43", "illegal character 'm' at position 9 (use capital letters)"),
        (
            "9135O100M000100Y43",
            "illegal character 'O' at position 5 (I, O, Z, S, V are never used; did you mean '0'?)",
        ),
        ("91350100M000100Y4３", "illegal character '３' at position 18"),
        ("B1350100M000100Y43", "'B' at position 1 is not a registration authority code"),
        ("95350100M000100Y43", "'5' at position 2 is not an entity type of authority 9 (工商)"),
        ("9135A100M000100Y43", "'A' at position 5 is not a digit"),
        ("91990100M000100Y43", "division code 990100 does not start with a province code"),
        ("91350100M000100Y53", "organisation code check character at position 17: expected '4', got '5'"),
        ("91350100M000100Y44", "wrong check character at position 18: expected '3', got '4'"),
    ],
)
def test_uscc_errors_name_the_defect(code, fragment):
    assert fragment in _reason(validate_uscc, code)
    assert not is_valid_uscc(code)


def test_uscc_non_string_and_letters_in_positions_1_2():
    assert "must be a string" in _reason(validate_uscc, 91350100)
    assert not is_valid_uscc(None)
    # authority letters allowed by the standard: A (military), N (agriculture), Y (other)
    for prefix in ("A1", "N2", "Y1"):
        first17 = prefix + "110105" + "MA01Y8K2" + org_code_check_char("MA01Y8K2")
        assert is_valid_uscc(first17 + uscc_check_char(first17))
    first17 = "Y2110105MA01Y8K2" + org_code_check_char("MA01Y8K2")
    assert "not an entity type of authority Y" in _reason(validate_uscc, first17 + uscc_check_char(first17))


def test_uscc_check_char_rejects_bad_input():
    with pytest.raises(ValidationFailed, match="first 17"):
        uscc_check_char("9135")
    with pytest.raises(ValidationFailed, match="illegal character 'I' at position 9"):
        uscc_check_char("91350100I000100Y4")


def test_generate_uscc_is_valid_and_deterministic():
    rng = random.Random(7)
    codes = [generate_uscc(rng, "110108") for _ in range(200)]
    assert all(is_valid_uscc(c) and c.startswith("91110108MA") for c in codes)
    again = random.Random(7)
    assert codes == [generate_uscc(again, "110108") for _ in range(200)]
    assert generate_uscc(rng, "110105", entity_type="2", org_code="12345678").startswith("9211010512345678")
    with pytest.raises(ValidationFailed, match="6-digit"):
        generate_uscc(rng, "1101")
    with pytest.raises(ValidationFailed, match="position 2"):
        generate_uscc(rng, "110105", entity_type="7")


def test_uscc_candidates():
    # wrong check character: the recomputed one comes first
    assert uscc_candidates("91350100M000100Y44")[0] == SAMPLE_USCC
    # swapped neighbours, a look-alike letter, lower case, a missing or an extra character
    assert uscc_candidates("91350100M000100Y34") == [SAMPLE_USCC]
    assert uscc_candidates("9135O100M000100Y43")[0] == SAMPLE_USCC
    assert uscc_candidates("91350100m000100y43")[0] == SAMPLE_USCC
    assert SAMPLE_USCC in uscc_candidates("9135010M000100Y43")
    assert SAMPLE_USCC in uscc_candidates("913501000M000100Y43")
    # every suggestion is valid and differs from the input; a valid code has no suggestion of itself
    for bad in ("91350100M000100Y44", "91350100M000100Y53", "9135010M000100Y43"):
        cands = uscc_candidates(bad)
        assert cands and all(is_valid_uscc(c) for c in cands) and bad not in cands
    assert SAMPLE_USCC not in uscc_candidates(SAMPLE_USCC)
    assert uscc_candidates("hello") == []


# -- resident identity number ------------------------------------------------------------------------


def test_standard_example_ids():
    validate_resident_id(SAMPLE_ID)
    assert resident_id_check_char(SAMPLE_ID[:17]) == "X"
    assert resident_id_check_char(SAMPLE_ID_1880[:17]) == "4"
    assert "before 1900" in _reason(validate_resident_id, SAMPLE_ID_1880)
    assert parse_resident_id(SAMPLE_ID) == ("110105", date(1949, 12, 31), "F")


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("110105491231002", "old 15-digit form; convert it to 18 digits"),
        ("1101051949123100", "has 16 characters"),
        ("1101051949A231002X", "illegal character 'A' at position 11"),
        ("11010519491231002x", "must be a capital 'X'"),
        ("110105194912310025", "wrong check character at position 18: expected 'X', got '5'"),
        ("11010519491231002Y", "illegal character 'Y' at position 18"),
        ("990105194912310020", "does not start with a province code"),
        ("110105199002300020", "birth date 19900230 is not a real date"),
    ],
)
def test_resident_id_errors_name_the_defect(number, fragment):
    assert fragment in _reason(validate_resident_id, number)
    assert not is_valid_resident_id(number)


def test_resident_id_future_birth_and_non_string():
    first17 = "11010520300101001"
    number = first17 + resident_id_check_char(first17)
    assert "in the future" in _reason(validate_resident_id, number)
    assert is_valid_resident_id(number, today=date(2031, 1, 1))
    assert "must be a string" in _reason(validate_resident_id, 110105)
    assert not is_valid_resident_id(None)
    with pytest.raises(ValidationFailed):
        resident_id_check_char("1101051949123100X")


def test_generate_and_parse_round_trip():
    rng = random.Random(3)
    for sex in ("M", "F", "男", "女"):
        number = generate_resident_id(rng, "110108", date(1996, 2, 29), sex)
        division, born, parsed = parse_resident_id(number)
        assert (division, born) == ("110108", date(1996, 2, 29))
        assert parsed == ("M" if sex in ("M", "男") else "F")
        assert int(number[16]) % 2 == (parsed == "M")
    with pytest.raises(ValidationFailed, match="sex"):
        generate_resident_id(rng, "110108", date(1990, 1, 1), "X")
    with pytest.raises(ValidationFailed, match="6-digit"):
        generate_resident_id(rng, "11", date(1990, 1, 1), "M")


def test_upgrade_15_to_18():
    assert upgrade_15_to_18("110105491231002") == SAMPLE_ID
    with pytest.raises(ValidationFailed, match="not a 15-digit"):
        upgrade_15_to_18("11010549123100")
    with pytest.raises(ValidationFailed, match="not a real date"):
        upgrade_15_to_18("110105491331002")


def test_resident_id_candidates():
    assert resident_id_candidates("110105194912310025")[0] == SAMPLE_ID
    assert resident_id_candidates("11010519491231002x") == [SAMPLE_ID]
    assert resident_id_candidates("110105491231002") == [SAMPLE_ID]
    assert SAMPLE_ID in resident_id_candidates("11010519491213002X")  # swapped day digits
    assert SAMPLE_ID in resident_id_candidates("11010519491231002")  # check char missing
    for bad in ("110105194912310025", "110105199002300020"):
        cands = resident_id_candidates(bad)
        assert cands and all(is_valid_resident_id(c) for c in cands) and bad not in cands
    assert resident_id_candidates("abc") == []


# -- small validators ----------------------------------------------------------------------------------


def test_mobile():
    assert is_mobile("13581234567") and is_mobile("19912345678")
    for bad in ("12581234567", "1358123456", "135812345678", "+8613581234567", "1358123456a"):
        assert not is_mobile(bad)


def test_luhn_and_bank_card():
    assert is_luhn_valid("79927398713") and not is_luhn_valid("79927398710")
    assert not is_luhn_valid("") and not is_luhn_valid("7992739871a")
    assert is_bank_card("6250941006528599")  # hand-checked: digit sum 60
    assert not is_bank_card("6250941006528598")
    assert not is_bank_card("79927398713")  # Luhn-valid but too short
    assert not is_bank_card("62509410065285990000")  # 20 digits


def test_licence_plate_passport_email():
    for good in ("京A12345", "沪BD12345", "粤B12345F", "京ADA1234", "京A1234学"):
        assert is_licence_plate(good), good
    for bad in ("京I12345", "京A1234", "XA12345", "京A123456", "京AO1234"):
        assert not is_licence_plate(bad), bad
    for good in ("E12345678", "EA1234567", "G12345678", "P1234567", "SE1234567"):
        assert is_passport(good), good
    for bad in ("E1234567", "EO1234567", "A12345678", "e12345678"):
        assert not is_passport(bad), bad
    assert is_email("zhang.san@bjsc.gov.cn") and is_email("a+b@x.co")
    for bad in ("zhang@", "@x.cn", "a b@x.cn", "a@x"):
        assert not is_email(bad), bad
    assert PII_CHECKS["resident_id"](SAMPLE_ID) and PII_CHECKS["uscc"](SAMPLE_USCC)
