"""The JSON answer of a query service call is encoded by orjson; it must say what the standard
library's encoder said: decimals as strings, dates in ISO 8601, NaN as null, bytes in hex, UTF-8."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal

from fastapi.responses import JSONResponse

from govfabric.sharing_modes.query_api.router import _json, _page_json


def _stdlib(rows: list[dict[str, object]], token: str | None) -> bytes:
    return JSONResponse({"rows": [{k: _json(v) for k, v in r.items()} for r in rows], "next_page_token": token}).body


def test_orjson_answer_matches_the_standard_encoder() -> None:
    rows = [{"name": "企业1", "capital": Decimal("1234.50"), "founded": date(2020, 1, 2),
             "at": datetime(2020, 1, 2, 3, 4, 5, 6), "utc": datetime(2020, 1, 2, tzinfo=UTC),
             "t": time(1, 2, 3), "nan": float("nan"), "inf": float("-inf"), "blob": b"\x01\xff", "n": 2**40,
             "ok": True, "none": None, "x": 1.5}]
    got = _page_json(rows, "tok")
    assert json.loads(got) == json.loads(_stdlib(rows, "tok"))
    assert "企业1".encode() in got and b"NaN" not in got


def test_an_integer_beyond_64_bits_falls_back_to_the_standard_encoder() -> None:
    assert json.loads(_page_json([{"n": 2**70}], None)) == {"rows": [{"n": 2**70}], "next_page_token": None}
