"""The REST API's request bodies (validated strictly: a date is a YYYY-MM-DD string, a count a
whole number, and unknown fields are refused) and response shapes (for the OpenAPI document;
serialize.py builds the responses and the tests check them against these models)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Technique = Literal["rf-assisted-extraction", "excision", "laser", "other"]
Sex = Literal["female", "male", "other", "unknown"]
Status = Literal["lost-to-follow-up", "overdue", "due"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LesionIn(_In):
    recorded_on: dt.date
    site: str = ""
    count: int | None = Field(default=None, description="Number of lesions")
    size_mm_low: float | None = None
    size_mm_high: float | None = None
    morphology: str = ""


# In a patch, a field left out is unchanged and null clears it; fields that cannot be unknown
# (`_KEEP`: a default of None for "left out" that an explicit null does not pass) refuse null.
_KEEP: Any = Field(default=None)


class LesionPatch(_In):
    recorded_on: dt.date = _KEEP
    site: str = _KEEP
    count: int | None = None
    size_mm_low: float | None = None
    size_mm_high: float | None = None
    morphology: str = _KEEP


class ProcedureIn(_In):
    performed_on: dt.date
    technique: Technique
    lesions_treated: int | None = None
    complications: str = ""


class ProcedurePatch(_In):
    performed_on: dt.date = _KEEP
    technique: Technique = _KEEP
    lesions_treated: int | None = None
    complications: str = _KEEP


class FollowUpIn(_In):
    """A visit that took place without a planned review (complete a planned review with PATCH
    /api/registry/follow-ups/{id} instead)."""

    done_date: dt.date
    recurrence: bool | None = None
    lesion_count: int | None = None
    satisfaction: int | None = Field(default=None, description="0 (worst) to 10 (best)")


class FollowUpPatch(_In):
    kind: str = _KEEP
    planned_date: dt.date | None = None
    due_by: dt.date | None = None
    done_date: dt.date | None = None
    recurrence: bool | None = None
    lesion_count: int | None = None
    satisfaction: int | None = None


class PatientPatch(_In):
    sex: Sex = _KEEP
    birth_year: int | None = None


class ScheduleIn(_In):
    anchor: dt.date | None = Field(
        default=None, description="Plan from this day (default: the last session)"
    )


# ---------------------------------------------------------------------- responses


class IdentifierOut(BaseModel):
    system: str
    value: str


class PatientOut(BaseModel):
    id: str
    sex: Sex
    birth_year: int | None
    identifiers: list[IdentifierOut]
    created_at: dt.datetime
    version: int


class PatientPage(BaseModel):
    items: list[PatientOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
    next: str | None = Field(description="The next page's URL; null on the last page")


class LesionOut(BaseModel):
    id: str
    patient_id: str
    recorded_on: dt.date
    site: str
    count: int | None
    size_mm_low: float | None
    size_mm_high: float | None
    morphology: str
    version: int


class ProcedureOut(BaseModel):
    id: str
    patient_id: str
    performed_on: dt.date
    technique: Technique
    lesions_treated: int | None
    complications: str
    version: int


class FollowUpOut(BaseModel):
    id: str
    patient_id: str
    kind: str = Field(description="The knowledge rule that planned it; empty for a visit")
    planned_date: dt.date | None
    due_by: dt.date | None
    done_date: dt.date | None
    recurrence: bool | None
    lesion_count: int | None
    satisfaction: int | None
    version: int


class AssessmentSummaryOut(BaseModel):
    id: str
    patient_id: str
    as_of: dt.date
    knowledge_version: str
    input_sha256: str
    created_at: dt.datetime
    dcc_suspicion: str | None
    calcinosis_type: str | None


class AssessmentOut(AssessmentSummaryOut):
    assessment: dict[str, object] = Field(description="The contract JSON (docs/interface.md)")


class RecordedOut(BaseModel):
    patient: PatientOut
    created: bool = Field(description="false: the Bundle's identifiers matched a patient")
    assessment: AssessmentSummaryOut
    lesion: LesionOut | None


class ImportedOut(BaseModel):
    patient_id: str
    how: Literal["restored", "recorded"]
    created: bool


class LesionList(BaseModel):
    items: list[LesionOut]


class ProcedureList(BaseModel):
    items: list[ProcedureOut]


class FollowUpList(BaseModel):
    items: list[FollowUpOut]


class AssessmentList(BaseModel):
    items: list[AssessmentSummaryOut]


class IntervalOut(BaseModel):
    low: float
    high: float
    unit: str


class ProposedSessionsOut(BaseModel):
    technique: Technique
    option: str
    summary: str
    evidence_level: str
    sessions_done: int
    last_session: dt.date | None
    lesions_remaining: int | None
    sessions_needed: int | None
    spacing: IntervalOut | None
    next_session_from: dt.date | None
    lesions_per_session: int | None = Field(
        description="The knowledge's planning default for this option, if it gives one"
    )
    proposed_dates: list[dt.date] = Field(
        description="One date per session still needed (ceil(lesions left / per session))"
    )


class ProposedReviewOut(BaseModel):
    kind: str
    summary: str
    interval: IntervalOut
    planned_date: dt.date
    due_by: dt.date


class PlanOut(BaseModel):
    patient_id: str
    assessment_id: str
    knowledge_version: str
    anchor: dt.date
    anchor_reason: str
    sessions: list[ProposedSessionsOut]
    reviews: list[ProposedReviewOut]
    notes: list[str]


class DueEntryOut(BaseModel):
    patient_id: str
    status: Status
    review: FollowUpOut
    days_overdue: int
    last_seen: dt.date | None
    open_reviews: int
    identifiers: list[IdentifierOut]


class DueList(BaseModel):
    as_of: dt.date
    items: list[DueEntryOut]


class EventOut(BaseModel):
    date: dt.date
    kind: Literal["lesions", "assessment", "session", "review", "review-planned"]
    record_id: str
    summary: str
    lesion_count: int | None
    recurrence: bool | None
    due_by: dt.date | None


class Timeline(BaseModel):
    items: list[EventOut]


class OutcomesOut(BaseModel):
    reviewed: int
    recurrence: int
    no_recurrence: int
    not_recorded: int
    treated: int
    sessions: int


class OverviewOut(BaseModel):
    as_of: dt.date
    counts: dict[str, int]
    outcomes: OutcomesOut


class AuditEntryOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str = Field(description="Who: web:<user>, api:<user>, cli:<os user>, anonymous")
    action: str
    entity_type: str
    entity_id: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next: str | None = Field(description="The next page's URL; null when there is no more")
