"""Cron follows cron's rules (cronsim), not a hand-written matcher's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from govfabric.errors import ValidationFailed
from govfabric.governance.schedule.timing import next_cron, parse_cron

T = datetime(2026, 11, 27, 12, 7, 30, tzinfo=UTC)  # a Friday


def test_day_of_month_or_weekday() -> None:
    # cron ORs a restricted day-of-month with a restricted weekday: the 15th OR any Monday
    assert next_cron("0 0 15 * 1", T) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday
    assert next_cron("0 0 15 * 1", datetime(2026, 12, 10, tzinfo=UTC)) == datetime(2026, 12, 14, tzinfo=UTC)
    assert next_cron("0 0 15 * 3", datetime(2026, 12, 10, tzinfo=UTC)) == datetime(2026, 12, 15, tzinfo=UTC)


def test_february_29() -> None:
    assert next_cron("0 0 29 2 *", T) == datetime(2028, 2, 29, tzinfo=UTC)


def test_weekday_7_is_sunday() -> None:
    parse_cron("0 3 * * 7")
    assert next_cron("0 3 * * 7", T) == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    assert next_cron("0 3 * * 5-7", T) == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def test_strictly_after_and_bad_expressions() -> None:
    assert next_cron("7 12 * * *", datetime(2026, 11, 27, 12, 7, tzinfo=UTC)) == datetime(2026, 11, 28, 12, 7,
                                                                                          tzinfo=UTC)
    for bad in ("61 * * * *", "* * *", "0 0 31 2 *", "x * * * *"):
        with pytest.raises(ValidationFailed):
            next_cron(bad, T)
