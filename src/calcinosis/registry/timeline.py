"""A patient's course as ordered events: lesions, assessments, sessions, reviews. Pure.

Each event keeps the numbers a timeline plot needs (lesion count, recurrence) beside a sentence
for people. Reviews still to come appear at their planned date; a review that took place
appears once, at the day it took place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from calcinosis.registry.models import TECHNIQUE_LABELS
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    LesionRecord,
    PatientFile,
    ProcedureRecord,
)

KINDS = ("lesions", "assessment", "session", "review", "review-planned")
"""Event kinds, in the order events of one day are listed."""


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    date: dt.date
    kind: str
    record_id: str
    summary: str
    lesion_count: int | None = None
    recurrence: bool | None = None
    due_by: dt.date | None = None


def timeline(file: PatientFile) -> tuple[TimelineEvent, ...]:
    events = [
        *(_lesions(r) for r in file.lesions),
        *(_assessment(r) for r in file.assessments),
        *(_session(r) for r in file.procedures),
        *(_review(r) for r in file.follow_ups),
    ]
    events.sort(key=lambda e: (e.date, KINDS.index(e.kind), e.record_id))
    return tuple(events)


def _count(count: int | None) -> str:
    return "count not recorded" if count is None else f"{count}"


def _lesions(r: LesionRecord) -> TimelineEvent:
    parts = [f"Lesions: {_count(r.count)}"]
    if r.site:
        parts.append(f"at {r.site}")
    if r.size_mm_low is not None or r.size_mm_high is not None:
        low, high = r.size_mm_low, r.size_mm_high
        size = f"{low:g}" if low == high or high is None else f"{low or 0:g}-{high:g}"
        parts.append(f"{size} mm")
    summary = " ".join(parts) + (f"; {r.morphology}" if r.morphology else "")
    return TimelineEvent(r.recorded_on, "lesions", r.id, summary, lesion_count=r.count)


def _assessment(r: AssessmentRecord) -> TimelineEvent:
    contract = r.contract()
    level = contract.get("dcc_suspicion", {}).get("level", "?")
    kind = contract.get("calcinosis", {}).get("type", "?")
    summary = (
        f"Assessment: DCC suspicion {level}, calcinosis {kind} (knowledge {r.knowledge_version})"
    )
    return TimelineEvent(r.as_of, "assessment", r.id, summary)


def _session(r: ProcedureRecord) -> TimelineEvent:
    label = TECHNIQUE_LABELS.get(r.technique, r.technique)
    treated = (
        "lesions treated not recorded"
        if r.lesions_treated is None
        else (f"{r.lesions_treated} lesions treated")
    )
    complications = r.complications or "none"
    summary = f"{label}: {treated}; complications: {complications}"
    return TimelineEvent(r.performed_on, "session", r.id, summary, lesion_count=None)


def _review(r: FollowUpRecord) -> TimelineEvent:
    if r.done_date is None:
        assert r.planned_date is not None
        due = f", due by {r.due_by.isoformat()}" if r.due_by and r.due_by != r.planned_date else ""
        summary = f"Review planned ({r.kind or 'unplanned'}){due}"
        return TimelineEvent(r.planned_date, "review-planned", r.id, summary, due_by=r.due_by)
    if r.recurrence is None:
        recurrence = "recurrence not recorded"
    else:
        recurrence = "recurrence" if r.recurrence else "no recurrence"
    parts = [f"Review: {recurrence}", f"lesions {_count(r.lesion_count)}"]
    if r.satisfaction is not None:
        parts.append(f"satisfaction {r.satisfaction}/10")
    return TimelineEvent(
        r.done_date,
        "review",
        r.id,
        "; ".join(parts),
        lesion_count=r.lesion_count,
        recurrence=r.recurrence,
    )
