"""The patient page's forms as values the registry takes, or field errors people can act on.

Each reader returns (values, errors): errors map a field name to a message that says what to
enter; values are only complete when there are no errors. Messages never repeat what was typed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from calcinosis.registry.models import TECHNIQUE_LABELS
from calcinosis.registry.records import FollowUpRecord
from calcinosis.web.ui.intake import Submission

TEXT_MAX = 4000
VISIT = "visit"
"""The follow-up form's choice for a visit that completes no planned review."""
_REVIEW_CHOICE = re.compile(r"([0-9a-f-]{36})@(\d{1,9})")


@dataclass(frozen=True)
class SessionForm:
    performed_on: dt.date
    technique: str
    lesions_treated: int | None
    complications: str


@dataclass(frozen=True)
class FollowUpForm:
    review_id: str | None
    review_version: int | None
    done_date: dt.date
    recurrence: bool | None
    lesion_count: int | None
    satisfaction: int | None


def _date(sub: Submission, name: str, what: str, errors: dict[str, str]) -> dt.date | None:
    text = sub.one(name)
    if not text:
        errors[name] = f"Enter the date of the {what}"
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = f"Enter the date of the {what} as YYYY-MM-DD, e.g. 2026-01-15"
        return None


def _count(
    sub: Submission, name: str, what: str, errors: dict[str, str], top: int = 100_000
) -> int | None:
    text = sub.one(name)
    if not text:
        return None
    if not text.isdigit() or int(text) > top:
        errors[name] = f"Enter {what} as a whole number from 0 to {top}, or leave it empty"
        return None
    return int(text)


def read_session(sub: Submission) -> tuple[SessionForm | None, dict[str, str]]:
    errors: dict[str, str] = {}
    day = _date(sub, "performed_on", "session", errors)
    technique = sub.one("technique")
    if technique not in TECHNIQUE_LABELS:
        errors["technique"] = "Choose the technique used"
    treated = _count(sub, "lesions_treated", "the number of lesions treated", errors)
    complications = sub.one("complications")
    if len(complications) > TEXT_MAX:
        errors["complications"] = f"Describe complications in at most {TEXT_MAX} characters"
    if errors or day is None:
        return None, errors
    return SessionForm(day, technique, treated, complications), errors


def read_follow_up(
    sub: Submission, open_reviews: tuple[FollowUpRecord, ...]
) -> tuple[FollowUpForm | None, dict[str, str]]:
    errors: dict[str, str] = {}
    choice = sub.one("review")
    review_id: str | None = None
    version: int | None = None
    if choice != VISIT:
        match = _REVIEW_CHOICE.fullmatch(choice)
        if match is None or match.group(1) not in {r.id for r in open_reviews}:
            errors["review"] = "Choose the planned review this visit completes, or a visit"
        else:
            review_id, version = match.group(1), int(match.group(2))
    day = _date(sub, "done_date", "visit", errors)
    recurrence = {"yes": True, "no": False, "": None}.get(sub.one("recurrence"))
    if sub.one("recurrence") not in ("yes", "no", ""):
        errors["recurrence"] = "Choose whether the lesions recurred"
    lesions = _count(sub, "lesion_count", "the number of lesions seen", errors)
    satisfaction = _count(sub, "satisfaction", "the patient's satisfaction", errors, top=10)
    if errors or day is None:
        return None, errors
    return FollowUpForm(review_id, version, day, recurrence, lesions, satisfaction), errors


def review_choice(review: FollowUpRecord) -> str:
    """The follow-up form's value for a planned review: its id and the version shown, so that
    completing a review someone changed meanwhile is refused, not applied blindly."""
    return f"{review.id}@{review.version}"
