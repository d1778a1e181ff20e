"""Dates of a synthetic record, counted back from the as-of date and never before birth."""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Mapping
from typing import Any


def minus_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` months earlier (the month's last day when it has fewer days)."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def years_before(day: dt.date, years: int) -> dt.date:
    """The anniversary `years` years earlier (28 February for a 29 February)."""
    return minus_months(day, 12 * years)


def between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    """A day from `first` to `last`, both included (`last` when they are the wrong way round)."""
    span = (last - first).days
    return last if span <= 0 else first + dt.timedelta(days=rng.randint(0, span))


def _clamp(day: dt.date, birth: dt.date, as_of: dt.date) -> dt.date:
    return min(max(day, birth), as_of)


def ago(spec: Mapping[str, Any], prefix: str, as_of: dt.date) -> dt.date | None:
    """`<prefix>years_ago` / `months_ago` / `days_ago` counted back from the as-of date."""
    if f"{prefix}years_ago" in spec:
        return minus_months(as_of, 12 * int(spec[f"{prefix}years_ago"]))
    if f"{prefix}months_ago" in spec:
        return minus_months(as_of, int(spec[f"{prefix}months_ago"]))
    if f"{prefix}days_ago" in spec:
        return as_of - dt.timedelta(days=int(spec[f"{prefix}days_ago"]))
    return None


def onset(spec: Mapping[str, Any], birth: dt.date, as_of: dt.date) -> dt.date | None:
    """A condition's onset: at an age, some time ago, or None (words only, or unknown)."""
    if "age" in spec:
        return _clamp(minus_months(birth, -12 * int(spec["age"])), birth, as_of)
    day = ago(spec, "", as_of)
    return None if day is None else _clamp(day, birth, as_of)


def start(spec: Mapping[str, Any], birth: dt.date, as_of: dt.date) -> dt.date | None:
    """When a medicine was started (`start_years_ago` ...), or None when not known."""
    day = ago(spec, "start_", as_of)
    return None if day is None else _clamp(day, birth, as_of)


def end(spec: Mapping[str, Any], first: dt.date, as_of: dt.date) -> dt.date | None:
    """When a course ended (`duration_months` / `_weeks` / `_days`), never after as-of."""
    if "duration_months" in spec:
        day = minus_months(first, -int(spec["duration_months"]))
    elif "duration_weeks" in spec:
        day = first + dt.timedelta(weeks=int(spec["duration_weeks"]))
    elif "duration_days" in spec:
        day = first + dt.timedelta(days=int(spec["duration_days"]))
    else:
        return None
    return min(day, as_of)
