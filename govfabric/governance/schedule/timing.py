"""When a job runs next: fixed intervals (``30s``, ``15m``, ``1h``, ``1d``) or 5-field cron (UTC)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from govfabric.errors import ValidationFailed

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


def parse_every(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text.lower())
    if not m or int(m.group(1)) <= 0:
        raise ValidationFailed(f"--every {text!r}: use a positive number with s, m, h or d (e.g. 30s, 1h)")
    return int(m.group(1)) * UNITS[m.group(2) or "s"]


def parse_cron(expr: str) -> list[set[int]]:
    """Five fields: minute hour day month weekday (0 = Sunday); ``*``, lists, ranges and ``/steps``."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValidationFailed(f"cron {expr!r} must have 5 fields: minute hour day month weekday")
    out = []
    for part, (name, lo, hi) in zip(parts, FIELDS, strict=True):
        values: set[int] = set()
        for item in part.split(","):
            m = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
            if not m:
                raise ValidationFailed(f"cron field {name} {item!r} is not understood")
            rng, step = m.group(1), int(m.group(2) or 1)
            if rng == "*":
                a, b = lo, hi
            elif "-" in rng:
                a, b = map(int, rng.split("-"))
            else:
                a = b = int(rng)
                if m.group(2):
                    b = hi
            if name == "weekday" and b == 7:
                b = 6 if a <= 6 else 0
                values.add(0)
            if not (lo <= a <= hi and lo <= b <= hi and a <= b and step > 0):
                raise ValidationFailed(f"cron field {name} {item!r} is out of range {lo}-{hi}")
            values.update(range(a, b + 1, step))
        out.append(values)
    return out


def next_cron(expr: str, after: datetime) -> datetime:
    minute, hour, day, month, weekday = parse_cron(expr)
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if (t.month in month and t.day in day and (t.isoweekday() % 7) in weekday and t.hour in hour
                and t.minute in minute):
            return t
        t += timedelta(minutes=1)
    raise ValidationFailed(f"cron {expr!r} never fires within a year")


def next_run(every_s: int | None, cron: str | None, after: datetime) -> datetime:
    if cron:
        return next_cron(cron, after)
    assert every_s
    return after + timedelta(seconds=every_s)
