"""The store's JSON columns are written by orjson (``store/db.py`` ``json_text``): the same values
as ``json.dumps`` gave, read back equal, and whatever orjson will not write goes to ``json.dumps``
— written or refused exactly as before. JSON has no NaN: it is stored as null."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govfabric.store.db import json_text, json_value

_KEYS = st.text(max_size=6) | st.integers(-5, 5) | st.booleans() | st.none()
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_what_json_dumps_wrote_reads_back_the_same(value: object) -> None:
    assert json_value(json_text(value)) == json.loads(json.dumps(value))


class Colour(enum.StrEnum):
    RED = "red"


def test_subclasses_and_big_integers_are_written_as_json_dumps_wrote_them() -> None:
    for value in ([Colour.RED], {"n": 2**70}, {"中文": "值"}):
        assert json_value(json_text(value)) == json.loads(json.dumps(value))
    assert "中文" in json_text({"中文": 1})  # UTF-8, not \\u escapes


@pytest.mark.parametrize("n", [2**70 + 1, -(2**63) - 1, 2**64, 10**30 + 7])
def test_integers_beyond_64_bits_read_back_as_the_same_integers(n: int) -> None:
    """orjson reads them as floats; an audit event's details must hash as they were written."""
    for text in (json_text({"n": n, "s": "x"}), json_text([n]).encode()):
        back = json_value(text)
        got = back["n"] if isinstance(back, dict) else back[0]
        assert type(got) is int and got == n


@pytest.mark.parametrize("value", [datetime.now(UTC), Decimal("1.5"), {1, 2}, object()])
def test_what_json_dumps_refused_is_still_refused(value: object) -> None:
    with pytest.raises(TypeError):
        json_text(value)


def test_nan_is_null_and_old_nan_tokens_still_read() -> None:
    assert json_value(json_text({"x": float("nan")})) == {"x": None}
    assert json_value('{"x": NaN}')["x"] != json_value('{"x": NaN}')["x"]  # read as before: a NaN float
