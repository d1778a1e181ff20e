"""Registry records as the REST API's JSON: dates as YYYY-MM-DD, times as ISO 8601 UTC, unknown
values as null (a registry field can be unknown, unlike the assessment contract's)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calcinosis.registry.due import DueEntry
from calcinosis.registry.overview import Overview, PatientStatus
from calcinosis.registry.planning import Interval, Plan
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientRecord,
    ProcedureRecord,
)
from calcinosis.registry.service import Imported
from calcinosis.registry.timeline import TimelineEvent
from calcinosis.registry.transaction import Recorded


def day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def identifiers(items: tuple[Identifier, ...]) -> list[dict[str, str]]:
    return [{"system": i.system, "value": i.value} for i in items]


def patient(r: PatientRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "sex": r.sex,
        "birth_year": r.birth_year,
        "identifiers": identifiers(r.identifiers),
        "created_at": r.created_at.isoformat(),
        "version": r.version,
    }


def lesion(r: LesionRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "patient_id": r.patient_id,
        "recorded_on": day(r.recorded_on),
        "site": r.site,
        "count": r.count,
        "size_mm_low": r.size_mm_low,
        "size_mm_high": r.size_mm_high,
        "morphology": r.morphology,
        "version": r.version,
    }


def procedure(r: ProcedureRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "patient_id": r.patient_id,
        "performed_on": day(r.performed_on),
        "technique": r.technique,
        "lesions_treated": r.lesions_treated,
        "complications": r.complications,
        "version": r.version,
    }


def follow_up(r: FollowUpRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "patient_id": r.patient_id,
        "kind": r.kind,
        "planned_date": day(r.planned_date),
        "due_by": day(r.due_by),
        "done_date": day(r.done_date),
        "recurrence": r.recurrence,
        "lesion_count": r.lesion_count,
        "satisfaction": r.satisfaction,
        "version": r.version,
    }


def assessment_summary(r: AssessmentRecord) -> dict[str, Any]:
    contract = r.contract()
    return {
        "id": r.id,
        "patient_id": r.patient_id,
        "as_of": day(r.as_of),
        "knowledge_version": r.knowledge_version,
        "input_sha256": r.input_sha256,
        "created_at": r.created_at.isoformat(),
        "dcc_suspicion": contract.get("dcc_suspicion", {}).get("level"),
        "calcinosis_type": contract.get("calcinosis", {}).get("type"),
    }


def recorded(done: Recorded) -> dict[str, Any]:
    return {
        "patient": patient(done.patient),
        "created": done.created,
        "assessment": assessment_summary(done.assessment),
        "lesion": lesion(done.lesion) if done.lesion is not None else None,
    }


def imported(done: Imported) -> dict[str, Any]:
    return {"patient_id": done.patient_id, "how": done.how, "created": done.created}


def _interval(i: Interval | None) -> dict[str, Any] | None:
    return {"low": i.low, "high": i.high, "unit": i.unit} if i is not None else None


def plan(p: Plan) -> dict[str, Any]:
    return {
        "patient_id": p.patient_id,
        "assessment_id": p.assessment_id,
        "knowledge_version": p.knowledge_version,
        "anchor": day(p.anchor),
        "anchor_reason": p.anchor_reason,
        "sessions": [
            {
                "technique": s.technique,
                "option": s.option,
                "summary": s.summary,
                "evidence_level": s.evidence_level,
                "sessions_done": s.sessions_done,
                "last_session": day(s.last_session),
                "lesions_remaining": s.lesions_remaining,
                "sessions_needed": s.sessions_needed,
                "spacing": _interval(s.spacing),
                "next_session_from": day(s.next_session_from),
                "lesions_per_session": s.lesions_per_session,
                "proposed_dates": [d.isoformat() for d in s.proposed_dates],
            }
            for s in p.sessions
        ],
        "reviews": [
            {
                "kind": r.kind,
                "summary": r.summary,
                "interval": _interval(r.interval),
                "planned_date": day(r.planned_date),
                "due_by": day(r.due_by),
            }
            for r in p.reviews
        ],
        "notes": list(p.notes),
    }


def due_entry(e: DueEntry) -> dict[str, Any]:
    return {
        "patient_id": e.patient_id,
        "status": e.status,
        "review": follow_up(e.review),
        "days_overdue": e.days_overdue,
        "last_seen": day(e.last_seen),
        "open_reviews": e.open_reviews,
        "identifiers": identifiers(e.identifiers),
    }


def event(e: TimelineEvent) -> dict[str, Any]:
    return {
        "date": day(e.date),
        "kind": e.kind,
        "record_id": e.record_id,
        "summary": e.summary,
        "lesion_count": e.lesion_count,
        "recurrence": e.recurrence,
        "due_by": day(e.due_by),
    }


def patient_status(s: PatientStatus) -> dict[str, Any]:
    return {
        "patient_id": s.patient_id,
        "status": s.status,
        "next_review": day(s.next_review),
        "last_seen": day(s.last_seen),
        "sessions": s.sessions,
        "reviewed": s.reviewed,
        "latest_recurrence": s.latest_recurrence,
        "identifiers": identifiers(s.identifiers),
    }


def overview(o: Overview) -> dict[str, Any]:
    out = o.outcomes
    return {
        "as_of": day(o.as_of),
        "counts": o.counts,
        "outcomes": {
            "reviewed": out.reviewed,
            "recurrence": out.recurrence,
            "no_recurrence": out.no_recurrence,
            "not_recorded": out.not_recorded,
            "treated": out.treated,
            "sessions": out.sessions,
        },
    }
