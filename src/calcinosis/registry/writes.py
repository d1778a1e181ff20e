"""Row-level writes on a registry session: new rows from records, and version-checked edits.

An edit names the version it was based on (the record's `version`). If the row has moved on,
ConflictError says so before anything is written; if another transaction moves it on between
our read and our UPDATE, the UPDATE ... WHERE version = :read matches no row and SQLAlchemy's
StaleDataError becomes the same ConflictError (dberrors.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from calcinosis.registry import store
from calcinosis.registry.errors import ConflictError, InvalidRecordError
from calcinosis.registry.models import (
    FollowUpRow,
    IdentifierRow,
    LesionRow,
    PatientRow,
    ProcedureRow,
)
from calcinosis.registry.records import (
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientRecord,
    ProcedureRecord,
)
from calcinosis.registry.validate import (
    check_follow_up,
    check_id,
    check_lesion,
    check_patient,
    check_procedure,
)

EditableRecord = PatientRecord | LesionRecord | ProcedureRecord | FollowUpRecord
RowT = TypeVar("RowT", PatientRow, LesionRow, ProcedureRow, FollowUpRow)

EDITABLE: dict[type[Any], tuple[str, ...]] = {
    PatientRecord: ("sex", "birth_year"),
    LesionRecord: (
        "recorded_on",
        "site",
        "count",
        "size_mm_low",
        "size_mm_high",
        "morphology",
    ),
    ProcedureRecord: ("performed_on", "technique", "lesions_treated", "complications"),
    FollowUpRecord: (
        "kind",
        "planned_date",
        "due_by",
        "done_date",
        "recurrence",
        "lesion_count",
        "satisfaction",
    ),
}
"""The fields an edit may change; ids, the patient and timestamps never change."""

ROW_OF: dict[type[Any], type[Any]] = {
    PatientRecord: PatientRow,
    LesionRecord: LesionRow,
    ProcedureRecord: ProcedureRow,
    FollowUpRecord: FollowUpRow,
}
CHECK_OF: dict[type[Any], Callable[[Any], None]] = {
    PatientRecord: check_patient,
    LesionRecord: check_lesion,
    ProcedureRecord: check_procedure,
    FollowUpRecord: check_follow_up,
}


def new_id() -> str:
    return str(uuid.uuid4())


def _checked(record: EditableRecord, row_type: type[RowT]) -> None:
    if ROW_OF[type(record)] is not row_type:  # pragma: no cover - a programming error
        raise TypeError(f"{type(record).__name__} is not stored in {row_type.__name__}")
    check_id(record.id, store.ENTITY[row_type])
    CHECK_OF[type(record)](record)


def insert(session: Session, record: EditableRecord, row_type: type[RowT]) -> RowT:
    """A new row holding `record`'s values (its id and version included)."""
    _checked(record, row_type)
    fields = {name: getattr(record, name) for name in EDITABLE[type(record)]}
    fields["id"] = record.id
    fields["version"] = record.version
    if isinstance(record, PatientRecord):
        fields["created_at"] = record.created_at
    else:
        fields["patient_id"] = record.patient_id
    row = row_type(**fields)
    session.add(row)
    return row


def add_identifiers(
    session: Session, patient_id: str, identifiers: Iterable[Identifier]
) -> list[Identifier]:
    """Attach the identifiers the patient does not hold yet; returns those added."""
    held = {(r.system, r.value) for r in store.identifier_rows(session, patient_id)}
    added = []
    for item in identifiers:
        if (item.system, item.value) in held:
            continue
        session.add(
            IdentifierRow(id=new_id(), patient_id=patient_id, system=item.system, value=item.value)
        )
        held.add((item.system, item.value))
        added.append(item)
    return added


def edit(session: Session, record: EditableRecord, row_type: type[RowT]) -> RowT:
    """Apply `record`'s editable fields to its row, if the row is still at `record.version`."""
    _checked(record, row_type)
    row = store.get_row(session, row_type, record.id)
    if not isinstance(row, PatientRow) and row.patient_id != getattr(record, "patient_id", None):
        raise InvalidRecordError("a record cannot be moved to another patient")
    if row.version != record.version:
        raise ConflictError(
            f"{store.ENTITY[type(row)]} {row.id} is at version {row.version}, the change was "
            f"made to version {record.version}; reload it and apply the change again",
            current_version=row.version,
        )
    changed = [n for n in EDITABLE[type(record)] if getattr(row, n) != getattr(record, n)]
    for name in changed:
        setattr(row, name, getattr(record, name))
    if changed:
        row.version = record.version + 1  # UPDATE ... SET version = n + 1 WHERE version = n
    session.flush()
    return row
