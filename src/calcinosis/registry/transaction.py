"""One registry write transaction: the session, who acts, when, and the row-level steps the
service composes (each audited in the same transaction)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from calcinosis.registry import audit, store, writes
from calcinosis.registry.errors import DuplicateError
from calcinosis.registry.models import (
    AssessmentRow,
    FollowUpRow,
    LesionRow,
    PatientRow,
    ProcedureRow,
)
from calcinosis.registry.records import (
    AssessmentRecord,
    Identifier,
    LesionRecord,
    PatientFile,
    PatientRecord,
    lesion_record,
)
from calcinosis.registry.validate import check_assessment, check_identifier

if TYPE_CHECKING:
    from calcinosis.registry.intake import Intake


@dataclass(frozen=True, slots=True)
class Recorded:
    """The outcome of recording a clinical Bundle."""

    patient: PatientRecord
    created: bool
    assessment: AssessmentRecord
    lesion: LesionRecord | None


@dataclass
class Tx:
    """A write transaction: the session, who acts, and the time it started."""

    session: Session
    actor: str
    now: dt.datetime

    def audit(self, action: str, entity_type: str, entity_id: str) -> None:
        audit.record(
            self.session,
            actor=self.actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            at=self.now,
        )

    def insert(self, record: writes.EditableRecord, row_type: type[writes.RowT]) -> writes.RowT:
        row = writes.insert(self.session, record, row_type)
        self.session.flush()
        self.audit("create", store.ENTITY[row_type], record.id)
        return row

    def edit(self, record: writes.EditableRecord, row_type: type[writes.RowT]) -> writes.RowT:
        row = writes.edit(self.session, record, row_type)
        self.audit("update", store.ENTITY[row_type], record.id)
        return row

    def new_patient(
        self, sex: str, birth_year: int | None, identifiers: tuple[Identifier, ...]
    ) -> PatientRow:
        record = PatientRecord(writes.new_id(), sex, birth_year, self.now, 1)
        row = self.insert(record, PatientRow)
        self.add_identifiers(record.id, identifiers)
        return row

    def add_identifiers(self, patient_id: str, identifiers: tuple[Identifier, ...]) -> None:
        for index, identifier in enumerate(identifiers):
            check_identifier(identifier, f"identifiers[{index}]")
        if writes.add_identifiers(self.session, patient_id, identifiers):
            self.audit("add-identifier", "patient", patient_id)

    def store_intake(self, patient_id: str, intake: Intake, created: bool) -> Recorded:
        lesion = None
        as_of = intake.as_of
        if intake.lesion is not None:
            draft = intake.lesion
            record = LesionRecord(
                writes.new_id(), patient_id, as_of, draft.site, draft.count, draft.size_mm_low,
                draft.size_mm_high, draft.morphology, 1,
            )  # fmt: skip
            lesion = lesion_record(self.insert(record, LesionRow))
        stored = AssessmentRecord(
            writes.new_id(), patient_id, as_of, intake.knowledge_version, intake.input_sha256,
            intake.contract_json, self.now,
        )  # fmt: skip
        self.add_assessment(stored)
        return Recorded(store.patient(self.session, patient_id), created, stored, lesion)

    def add_assessment(self, record: AssessmentRecord) -> None:
        check_assessment(record)
        self.session.add(
            AssessmentRow(
                id=record.id,
                patient_id=record.patient_id,
                as_of=record.as_of,
                knowledge_version=record.knowledge_version,
                input_sha256=record.input_sha256,
                contract_json=record.contract_json,
                created_at=record.created_at,
            )
        )
        self.session.flush()
        self.audit("create", "assessment", record.id)

    def store_file(self, file: PatientFile) -> None:
        """Insert an imported patient file with its own ids, versions and times."""
        if self.session.get(PatientRow, file.patient.id) is not None:
            raise DuplicateError(f"patient {file.patient.id} is in the registry already")
        if store.find_patient(self.session, file.patient.identifiers) is not None:
            raise DuplicateError("a patient with one of these identifiers is registered")
        writes.insert(self.session, file.patient, PatientRow)
        self.session.flush()
        self.audit("import", "patient", file.patient.id)
        self.add_identifiers(file.patient.id, file.patient.identifiers)
        for lesion in file.lesions:
            writes.insert(self.session, lesion, LesionRow)
        for procedure in file.procedures:
            writes.insert(self.session, procedure, ProcedureRow)
        for follow_up in file.follow_ups:
            writes.insert(self.session, follow_up, FollowUpRow)
        for assessment in file.assessments:
            self.add_assessment(assessment)
        self.session.flush()
