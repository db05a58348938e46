"""When a job runs next: fixed intervals (``30s``, ``15m``, ``1h``, ``1d``) or 5-field cron (UTC).

Cron is ``cronsim`` (Debian cron semantics: day-of-month and weekday are ORed when both are
restricted, weekday 7 is Sunday, Feb 29 fires in leap years), not a hand-written matcher."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from cronsim import CronSim, CronSimError

from govfabric.errors import ValidationFailed

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if not m or int(m.group(1)) <= 0:
        raise ValidationFailed(f"--every {text!r}: use a positive number with s, m, h or d (e.g. 30s, 1h)")
    return int(m.group(1)) * UNITS[m.group(2) or "s"]


def parse_cron(expr: str) -> None:
    """Validate five fields: minute hour day month weekday (0 or 7 = Sunday)."""
    if len(expr.split()) != 5:
        raise ValidationFailed(f"cron {expr!r} must have 5 fields: minute hour day month weekday")
    try:
        CronSim(expr, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValidationFailed(f"cron {expr!r} is not understood: {exc}") from None


def next_cron(expr: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` (to the minute) that ``expr`` fires."""
    parse_cron(expr)
    try:
        return next(CronSim(expr, after.replace(second=0, microsecond=0)))
    except (CronSimError, StopIteration):
        raise ValidationFailed(f"cron {expr!r} never fires") from None


def next_run(every_s: int | None, cron: str | None, after: datetime) -> datetime:
    if cron:
        return next_cron(cron, after)
    assert every_s
    return after + timedelta(seconds=every_s)
