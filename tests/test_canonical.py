"""The one canonical JSON form (RFC 8785): the RFC's own examples, refusals with a clear error,
explicit conversion, and structure digests that did not move when the form changed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from govfabric.canonical import NotCanonicalJSON, canonical, jsonable, legacy, loads
from govfabric.catalog.harvest.meta import structure_hash
from govfabric.errors import GovfabricError


@pytest.mark.parametrize(("value", "text"), [
    (1e21, "1e+21"), (1e20, "100000000000000000000"), (0.000001, "0.000001"), (1e-7, "1e-7"),
    (-0.0, "0"), (1.0, "1"), (333333333.33333329, "333333333.3333333"), (1e30, "1e+30"), (4.50, "4.5"),
    (2e-3, "0.002"), (0.000000000000000000000000001, "1e-27"), (9007199254740991, "9007199254740991"),
    (-5e-324, "-5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
])
def test_numbers_are_es6_doubles(value: float, text: str) -> None:
    assert canonical(value) == text.encode()


def test_the_rfc_example() -> None:
    """RFC 8785 §3.2.2 (input written as the RFC's JSON)."""
    raw = ('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], '
           '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}')
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical(json.loads(raw)) == expected.encode()


def test_keys_are_ordered_by_utf16_code_units() -> None:
    """RFC 8785 §3.2.3: an emoji (surrogates D83D…) sorts before U+FB33; Python's code-point order differs."""
    obj = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
           "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
           "\u00f6": "Latin Small Letter O With Diaeresis"}
    order = [k for k in json.loads(canonical(obj))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert canonical(obj) != legacy(obj)


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), -float("inf"), 2**53, -(2**53), datetime(2024, 1, 1, tzinfo=UTC),
    Decimal("1.5"), {1: "non-string key"}, {"nested": [object()]}, b"bytes",
])
def test_non_json_values_are_refused_clearly(value: object) -> None:
    with pytest.raises(NotCanonicalJSON, match="convert it explicitly") as err:
        canonical({"x": value})
    assert isinstance(err.value, GovfabricError)


def test_jsonable_converts_on_purpose() -> None:
    at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    got = jsonable({"at": at, "amount": Decimal("12.50"), "big": 2**60, "nan": float("nan"), "t": (1, 2),
                    1: "int key", None: "null key", "ok": [1, 2.5, None, "x"]})
    assert got == {"at": str(at), "amount": "12.50", "big": str(2**60), "nan": "nan", "t": [1, 2],
                   "1": "int key", "null": "null key", "ok": [1, 2.5, None, "x"]}
    canonical(got)  # and then it has a canonical form


def test_structure_digests_did_not_move() -> None:
    """Digests stored before RFC 8785 (the old sorted-keys form) equal the new ones: no asset looks
    changed on the next harvest."""
    structure = [{"name": "统一社会信用代码", "type": "VARCHAR", "nullable": False},
                 {"name": "capital\t\"x\"", "type": "DECIMAL(18,2)", "nullable": True},
                 {"name": "\U0001f600", "type": "INTEGER", "nullable": True}]
    old = hashlib.sha256(json.dumps(structure, sort_keys=True, ensure_ascii=False,
                                    separators=(",", ":")).encode("utf-8")).hexdigest()
    assert structure_hash(structure) == old


def test_loads_reads_back_the_same_bytes() -> None:
    """1e16 is written ``10000000000000000``; read back as a double, it serialises the same again."""
    data = canonical({"big": 1e16, "neg": -1e20, "n": 2**53 - 1, "x": [1.5, 0.0]})
    assert data == b'{"big":10000000000000000,"n":9007199254740991,"neg":-100000000000000000000,"x":[1.5,0]}'
    assert canonical(loads(data)) == data


_KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6) | \
    st.sampled_from(["", "a", "\ue000", "\U0001f600", "\u00e9", "b\U00010000", "\uffff", "\x1f"])
_SCALARS = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
            | st.sampled_from([3.0, 0.0001, 9.99e-5, 1e16, 1e15 + 0.5, "\x00\x08\"\\\u2028", "\ud800"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_KEYS, inner, max_size=5), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_fast_path_writes_what_rfc8785_writes(value: object) -> None:
    """Plain values go through json's C encoder (``_plain``); the bytes, or the refusal, must be
    exactly rfc8785's for every value, including the edges: floats near exponent form, keys beyond
    U+FFFF next to U+E000…U+FFFF, control characters, lone surrogates."""
    try:
        expected: bytes | None = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        expected = None
    if expected is None:
        with pytest.raises(NotCanonicalJSON):
            canonical(value)
    else:
        assert canonical(value) == expected


_ODD = st.sampled_from([datetime(2026, 1, 2, tzinfo=UTC), Decimal("1.50"), 2**60, float("nan"), float("inf"),
                        (1, "a"), True])
_MIXED = st.recursive(_SCALARS | _ODD, lambda inner: st.lists(inner, max_size=4)
                      | st.lists(inner, max_size=3).map(tuple)
                      | st.dictionaries(_KEYS | st.integers(0, 3) | st.booleans(), inner, max_size=5),
                      max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(_MIXED)
def test_jsonable_plain_is_jsonable_and_the_plain_check_in_one_walk(value: object) -> None:
    """What audit appends hash: the same value as :func:`jsonable`, and ``plain`` exactly when the
    fast path applies; a value said plain is written by ``canonical(…, plain=True)`` as rfc8785 does."""
    from govfabric.canonical import _plain, jsonable_plain

    clean, plain = jsonable_plain(value)
    assert json.dumps(clean, sort_keys=True) == json.dumps(jsonable(value), sort_keys=True)
    assert plain == _plain(jsonable(value))
    if plain:
        try:
            expected = rfc8785.dumps(clean)
        except rfc8785.CanonicalizationError:  # a lone surrogate: refused either way
            with pytest.raises(NotCanonicalJSON):
                canonical(clean, plain=True)
        else:
            assert canonical(clean, plain=True) == expected
