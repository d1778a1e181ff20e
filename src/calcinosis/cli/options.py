"""Option values the commands share: dates written YYYY-MM-DD."""

from __future__ import annotations

import datetime as dt
import re

import typer

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: str, option: str) -> dt.date:
    """A YYYY-MM-DD date, or a usage error naming the option (exit status 2)."""
    try:
        if _ISO_DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise typer.BadParameter(
        f"'{value}' is not a date in the form YYYY-MM-DD (e.g. 2026-01-01)",
        param_hint=f"'{option}'",
    )


def parse_as_of(value: str | None) -> dt.date:
    """`--as-of`: the date ages and durations are counted to; today when not given."""
    return dt.date.today() if value is None else parse_date(value, "--as-of")
