"""A licence's dates read as the four formats say (the YYYY-MM-DD fast path changes nothing)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from govfabric.errors import ValidationFailed
from govfabric.prefill.licences.service import _date

FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日")


def _by_formats(text: str) -> date | None:
    for fmt in FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


@pytest.mark.parametrize("text", [
    "2024-01-05", " 2024-12-31 ", "2024-02-29", "2023-02-29", "2024-02-30", "2024-13-01", "2024-00-10",
    "2024-1-5", "2024-01-5", "0001-01-01", "9999-12-31", "２０２４-01-05", "2024-01-05T00", "2024-W01-1",
    "20240105", "2024/01/05", "2024年1月5日", "2024年01月05日", "2024.01.05", "", "yesterday",
])
def test_dates_read_as_the_formats_say(text: str) -> None:
    want = _by_formats(text)
    if want is None:
        with pytest.raises(ValidationFailed, match="is not a date"):
            _date(text, "issued_on")
    else:
        assert _date(text, "issued_on") == want
