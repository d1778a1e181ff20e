"""The clinic at a glance on a given day: every patient's follow-up status and the outcomes so far.
Pure: the due rule's histories in, counts out.

Status is the due rule's (due.py): lost to follow-up, overdue, due; every other patient is
"ok" (nothing planned is late). Outcomes read each patient's latest review that took place:
recurrence, no recurrence, or not recorded. Records dated after the day are ignored, like the due
list, so the overview can be recomputed for any past day.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from calcinosis.registry.due import STATUSES, PatientHistory, open_reviews, patient_due
from calcinosis.registry.records import FollowUpRecord, Identifier

OK = "ok"
ALL_STATUSES = (*STATUSES, OK)
"""Most urgent first."""


@dataclass(frozen=True, slots=True)
class PatientStatus:
    patient_id: str
    identifiers: tuple[Identifier, ...]
    status: str
    next_review: dt.date | None
    """The earliest open review's planned date."""
    last_seen: dt.date | None
    sessions: int
    latest_recurrence: bool | None
    """At the latest review that took place; None if none took place or it was not recorded."""
    reviewed: bool


@dataclass(frozen=True, slots=True)
class Outcomes:
    reviewed: int
    recurrence: int
    no_recurrence: int
    not_recorded: int
    treated: int
    """Patients with at least one treatment session."""
    sessions: int


@dataclass(frozen=True, slots=True)
class Overview:
    as_of: dt.date
    patients: tuple[PatientStatus, ...]
    """Most urgent first, then by patient id."""
    counts: dict[str, int]
    """Patients per status, every status present, most urgent first."""
    outcomes: Outcomes


def patient_status(history: PatientHistory, as_of: dt.date) -> PatientStatus:
    entry = patient_due(history, as_of)
    reviews = open_reviews(history, as_of)
    planned = [r.planned_date for r in reviews if r.planned_date is not None]
    done = [f for f in history.follow_ups if f.done_date is not None and f.done_date <= as_of]
    sessions = [day for day in history.sessions if day <= as_of]
    seen = [*(f.done_date for f in done if f.done_date is not None), *sessions]
    latest = max(done, key=_done_key) if done else None
    return PatientStatus(
        patient_id=history.patient_id,
        identifiers=history.identifiers,
        status=entry.status if entry is not None else OK,
        next_review=min(planned) if planned else None,
        last_seen=max(seen) if seen else None,
        sessions=len(sessions),
        latest_recurrence=latest.recurrence if latest is not None else None,
        reviewed=latest is not None,
    )


def _done_key(record: FollowUpRecord) -> tuple[dt.date, str]:
    assert record.done_date is not None
    return (record.done_date, record.id)


def clinic_overview(histories: Iterable[PatientHistory], as_of: dt.date) -> Overview:
    statuses = sorted(
        (patient_status(h, as_of) for h in histories),
        key=lambda s: (ALL_STATUSES.index(s.status), s.patient_id),
    )
    counted = Counter(s.status for s in statuses)
    reviewed = [s for s in statuses if s.reviewed]
    outcomes = Outcomes(
        reviewed=len(reviewed),
        recurrence=sum(1 for s in reviewed if s.latest_recurrence is True),
        no_recurrence=sum(1 for s in reviewed if s.latest_recurrence is False),
        not_recorded=sum(1 for s in reviewed if s.latest_recurrence is None),
        treated=sum(1 for s in statuses if s.sessions),
        sessions=sum(s.sessions for s in statuses),
    )
    return Overview(
        as_of=as_of,
        patients=tuple(statuses),
        counts={status: counted.get(status, 0) for status in ALL_STATUSES},
        outcomes=outcomes,
    )
