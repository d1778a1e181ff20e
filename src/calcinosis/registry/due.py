"""Who is due, overdue or lost to follow-up on a given day. Pure: records in, a list out.

The rule works on the planned reviews, whose dates come from the knowledge's follow-up
intervals (planning.py: planned = anchor + low, due by = anchor + high):

- A review is *open* on day D when it is planned, was not done by D, and was not settled: the
  patient was not seen (a follow-up visit or a treatment session) between its planned date and D.
- An open review is *upcoming* before its planned date, *due* from its planned date to its
  due-by date, and *overdue* after that.
- A patient is **lost to follow-up** when every open review is overdue: the last review the
  plan holds has passed unattended, and nothing planned is left to bring the patient back (the
  seed patient, reviewed at 3 months and not seen at one year). **Overdue** when a review is
  overdue but a later one is still ahead; **due** when a review is due. Patients with only
  upcoming reviews, or none, are not listed.

Records dated after D are ignored, so a due list can be recomputed for any past day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from calcinosis.registry.records import FollowUpRecord, Identifier

LOST = "lost-to-follow-up"
OVERDUE = "overdue"
DUE = "due"
STATUSES = (LOST, OVERDUE, DUE)
"""Most urgent first; the due list is sorted this way."""


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """What the rule needs about one patient."""

    patient_id: str
    identifiers: tuple[Identifier, ...]
    follow_ups: tuple[FollowUpRecord, ...]
    sessions: tuple[dt.date, ...]


@dataclass(frozen=True, slots=True)
class DueEntry:
    patient_id: str
    status: str
    review: FollowUpRecord
    """The review that decides the status (for lost: the last one missed)."""
    days_overdue: int
    last_seen: dt.date | None
    open_reviews: int
    identifiers: tuple[Identifier, ...]


def review_state(review: FollowUpRecord, as_of: dt.date) -> str:
    """upcoming | due | overdue for an open review."""
    assert review.planned_date is not None
    due_by = review.due_by or review.planned_date
    if as_of < review.planned_date:
        return "upcoming"
    return DUE if as_of <= due_by else OVERDUE


def open_reviews(history: PatientHistory, as_of: dt.date) -> list[FollowUpRecord]:
    contacts = _contacts(history, as_of)
    out = []
    for review in history.follow_ups:
        if review.planned_date is None:
            continue
        if review.done_date is not None and review.done_date <= as_of:
            continue
        if any(review.planned_date <= seen for seen in contacts):
            continue  # seen since the review fell due: settled
        out.append(review)
    return out


def _contacts(history: PatientHistory, as_of: dt.date) -> list[dt.date]:
    visits = [f.done_date for f in history.follow_ups if f.done_date is not None]
    return [day for day in (*visits, *history.sessions) if day <= as_of]


def patient_due(history: PatientHistory, as_of: dt.date) -> DueEntry | None:
    reviews = open_reviews(history, as_of)
    if not reviews:
        return None
    states = {r.id: review_state(r, as_of) for r in reviews}
    overdue = [r for r in reviews if states[r.id] == OVERDUE]
    due = [r for r in reviews if states[r.id] == DUE]
    if overdue and len(overdue) == len(reviews):
        status, review = LOST, max(overdue, key=_due_by)
    elif overdue:
        status, review = OVERDUE, min(overdue, key=_due_by)
    elif due:
        status, review = DUE, min(due, key=_due_by)
    else:
        return None
    contacts = _contacts(history, as_of)
    return DueEntry(
        patient_id=history.patient_id,
        status=status,
        review=review,
        days_overdue=max((as_of - _due_by(review)).days, 0),
        last_seen=max(contacts) if contacts else None,
        open_reviews=len(reviews),
        identifiers=history.identifiers,
    )


def _due_by(review: FollowUpRecord) -> dt.date:
    day = review.due_by or review.planned_date
    assert day is not None
    return day


def due_list(histories: Iterable[PatientHistory], as_of: dt.date) -> tuple[DueEntry, ...]:
    """Listed patients, most urgent first, then by how long overdue and by due-by date."""
    entries = [e for e in (patient_due(h, as_of) for h in histories) if e is not None]
    entries.sort(
        key=lambda e: (
            STATUSES.index(e.status),
            -e.days_overdue,
            _due_by(e.review),
            e.patient_id,
        )
    )
    return tuple(entries)
