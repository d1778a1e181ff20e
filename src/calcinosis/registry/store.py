"""Queries on a registry session: rows by id, a patient's whole file, the due-list histories."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcinosis.registry.due import PatientHistory
from calcinosis.registry.errors import DuplicateError, NotFoundError
from calcinosis.registry.models import (
    AssessmentRow,
    Base,
    FollowUpRow,
    IdentifierRow,
    LesionRow,
    PatientRow,
    ProcedureRow,
)
from calcinosis.registry.records import (
    FollowUpRecord,
    Identifier,
    PatientFile,
    PatientRecord,
    assessment_record,
    follow_up_record,
    lesion_record,
    patient_record,
    procedure_record,
)
from calcinosis.registry.validate import check_id

RowT = TypeVar("RowT", bound=Base)

ENTITY = {
    PatientRow: "patient",
    LesionRow: "lesion",
    AssessmentRow: "assessment",
    ProcedureRow: "procedure",
    FollowUpRow: "follow-up",
}


def get_row(session: Session, row_type: type[RowT], row_id: str) -> RowT:
    what = ENTITY.get(row_type, row_type.__tablename__)
    row = session.get(row_type, check_id(row_id, what))
    if row is None:
        raise NotFoundError(f"no {what} {row_id} in the registry")
    return row


def identifier_rows(session: Session, patient_id: str) -> list[IdentifierRow]:
    return list(
        session.scalars(select(IdentifierRow).where(IdentifierRow.patient_id == patient_id))
    )


def patient(session: Session, patient_id: str) -> PatientRecord:
    row = get_row(session, PatientRow, patient_id)
    return patient_record(row, identifier_rows(session, row.id))


def patient_file(session: Session, patient_id: str) -> PatientFile:
    record = patient(session, patient_id)
    pid = record.id
    lesions = select(LesionRow).where(LesionRow.patient_id == pid)
    assessments = select(AssessmentRow).where(AssessmentRow.patient_id == pid)
    procedures = select(ProcedureRow).where(ProcedureRow.patient_id == pid)
    follow_ups = select(FollowUpRow).where(FollowUpRow.patient_id == pid)
    return PatientFile(
        patient=record,
        lesions=tuple(
            lesion_record(r)
            for r in session.scalars(lesions.order_by(LesionRow.recorded_on, LesionRow.id))
        ),
        assessments=tuple(
            assessment_record(r)
            for r in session.scalars(
                assessments.order_by(
                    AssessmentRow.as_of, AssessmentRow.created_at, AssessmentRow.id
                )
            )
        ),
        procedures=tuple(
            procedure_record(r)
            for r in session.scalars(
                procedures.order_by(ProcedureRow.performed_on, ProcedureRow.id)
            )
        ),
        follow_ups=tuple(sorted(map(follow_up_record, session.scalars(follow_ups)), key=_fu)),
    )


def _fu(record: FollowUpRecord) -> tuple[dt.date, dt.date, str]:
    """Planned reviews by planned date, unplanned visits by visit date, then id (NULLs sort
    differently on the two databases, so order in Python)."""
    day = record.planned_date or record.done_date or dt.date.min
    return (day, record.done_date or dt.date.min, record.id)


def find_patient(session: Session, identifiers: Iterable[Identifier]) -> PatientRow | None:
    """The patient holding any of `identifiers`; DuplicateError if they name two patients."""
    found: set[str] = set()
    for item in identifiers:
        query = select(IdentifierRow.patient_id).where(
            IdentifierRow.system == item.system, IdentifierRow.value == item.value
        )
        found.update(session.scalars(query))
    if len(found) > 1:
        raise DuplicateError("the Bundle's identifiers belong to different registry patients")
    return session.get(PatientRow, found.pop()) if found else None


def histories(session: Session, *, pending_only: bool = True) -> list[PatientHistory]:
    """Patients with a planned review that is not done (or every patient), with what the due
    rule reads."""
    pending = (
        select(FollowUpRow.patient_id)
        .where(FollowUpRow.planned_date.is_not(None), FollowUpRow.done_date.is_(None))
        .distinct()
    )
    ids = sorted(session.scalars(pending if pending_only else select(PatientRow.id)))
    if not ids:
        return []
    follow_ups = defaultdict(list)
    for row in session.scalars(select(FollowUpRow).where(FollowUpRow.patient_id.in_(ids))):
        follow_ups[row.patient_id].append(follow_up_record(row))
    sessions = defaultdict(list)
    query = select(ProcedureRow.patient_id, ProcedureRow.performed_on)
    for patient_id, day in session.execute(query.where(ProcedureRow.patient_id.in_(ids))):
        sessions[patient_id].append(day)
    identifiers = defaultdict(list)
    query_ids = select(IdentifierRow).where(IdentifierRow.patient_id.in_(ids))
    for held in session.scalars(query_ids):
        identifiers[held.patient_id].append(Identifier(held.system, held.value))
    return [
        PatientHistory(
            patient_id=pid,
            identifiers=tuple(sorted(identifiers[pid], key=lambda i: (i.system, i.value))),
            follow_ups=tuple(sorted(follow_ups[pid], key=_fu)),
            sessions=tuple(sorted(sessions[pid])),
        )
        for pid in ids
    ]
