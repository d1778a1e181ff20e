"""What the registry hands out: frozen snapshots of rows, detached from any session.

An editable record carries the `version` it was read at; to change it, pass a copy with new
values (`dataclasses.replace`) back to the registry, which refuses it if the row moved on. The
web shell uses that version as the ETag.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from calcinosis.registry.models import (
    AssessmentRow,
    FollowUpRow,
    IdentifierRow,
    LesionRow,
    PatientRow,
    ProcedureRow,
)


@dataclass(frozen=True, slots=True)
class Identifier:
    system: str
    value: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    id: str
    sex: str
    birth_year: int | None
    created_at: dt.datetime
    version: int
    identifiers: tuple[Identifier, ...] = ()


@dataclass(frozen=True, slots=True)
class LesionRecord:
    id: str
    patient_id: str
    recorded_on: dt.date
    site: str
    count: int | None
    size_mm_low: float | None
    size_mm_high: float | None
    morphology: str
    version: int


@dataclass(frozen=True, slots=True)
class AssessmentRecord:
    id: str
    patient_id: str
    as_of: dt.date
    knowledge_version: str
    input_sha256: str
    contract_json: str
    created_at: dt.datetime

    def contract(self) -> dict[str, Any]:
        """The assessment object of docs/interface.md."""
        value: dict[str, Any] = orjson.loads(self.contract_json)
        return value


@dataclass(frozen=True, slots=True)
class ProcedureRecord:
    id: str
    patient_id: str
    performed_on: dt.date
    technique: str
    lesions_treated: int | None
    complications: str
    version: int


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    id: str
    patient_id: str
    kind: str
    """The knowledge rule that planned it (e.g. follow-up.recurrence-3-months); "" if unplanned."""
    planned_date: dt.date | None
    due_by: dt.date | None
    done_date: dt.date | None
    recurrence: bool | None
    lesion_count: int | None
    satisfaction: int | None
    version: int


@dataclass(frozen=True, slots=True)
class PatientFile:
    """Everything the registry holds about one patient, each list in a stable order."""

    patient: PatientRecord
    lesions: tuple[LesionRecord, ...] = ()
    assessments: tuple[AssessmentRecord, ...] = ()
    procedures: tuple[ProcedureRecord, ...] = ()
    follow_ups: tuple[FollowUpRecord, ...] = ()

    def latest_assessment(self) -> AssessmentRecord | None:
        return self.assessments[-1] if self.assessments else None


def patient_record(row: PatientRow, identifiers: list[IdentifierRow]) -> PatientRecord:
    return PatientRecord(
        id=row.id,
        sex=row.sex,
        birth_year=row.birth_year,
        created_at=row.created_at,
        version=row.version,
        identifiers=tuple(
            Identifier(i.system, i.value) for i in sorted(identifiers, key=_identifier_key)
        ),
    )


def _identifier_key(row: IdentifierRow) -> tuple[str, str]:
    return (row.system, row.value)


def lesion_record(row: LesionRow) -> LesionRecord:
    return LesionRecord(
        id=row.id,
        patient_id=row.patient_id,
        recorded_on=row.recorded_on,
        site=row.site,
        count=row.count,
        size_mm_low=row.size_mm_low,
        size_mm_high=row.size_mm_high,
        morphology=row.morphology,
        version=row.version,
    )


def assessment_record(row: AssessmentRow) -> AssessmentRecord:
    return AssessmentRecord(
        id=row.id,
        patient_id=row.patient_id,
        as_of=row.as_of,
        knowledge_version=row.knowledge_version,
        input_sha256=row.input_sha256,
        contract_json=row.contract_json,
        created_at=row.created_at,
    )


def procedure_record(row: ProcedureRow) -> ProcedureRecord:
    return ProcedureRecord(
        id=row.id,
        patient_id=row.patient_id,
        performed_on=row.performed_on,
        technique=row.technique,
        lesions_treated=row.lesions_treated,
        complications=row.complications,
        version=row.version,
    )


def follow_up_record(row: FollowUpRow) -> FollowUpRecord:
    return FollowUpRecord(
        id=row.id,
        patient_id=row.patient_id,
        kind=row.kind,
        planned_date=row.planned_date,
        due_by=row.due_by,
        done_date=row.done_date,
        recurrence=row.recurrence,
        lesion_count=row.lesion_count,
        satisfaction=row.satisfaction,
        version=row.version,
    )
