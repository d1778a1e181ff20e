"""The registry's service API: what the CLI, and later the REST endpoints and web pages, call.

    registry = Registry.open()                     # CALCINOSIS_DATABASE_URL or the SQLite file
    done = registry.record_bundle(bundle, actor="dr.a", as_of=day)
    registry.record_procedure(done.patient.id, performed_on=day, technique="excision", actor=...)
    plan = registry.plan(done.patient.id, actor=...); registry.schedule(plan, actor=...)
    registry.due(day, actor=...)

Every call is one transaction and writes its audit entries in it, reads included (who saw
what). Calls return frozen records; to edit one, pass a changed copy back (`dataclasses.replace`)
and a stale copy raises ConflictError. Errors are RegistryError subclasses, or the contract's
InputError subclasses for a bad Bundle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import sessionmaker

from calcinosis.registry import audit, migrate, store, writes
from calcinosis.registry.database import WRITE, database_url, make_engine, shown, sqlite_path
from calcinosis.registry.dberrors import translated
from calcinosis.registry.due import DueEntry, due_list
from calcinosis.registry.errors import DuplicateError, InvalidRecordError, SchemaError
from calcinosis.registry.fhir_export import patient_bundle
from calcinosis.registry.fhir_import import is_registry_export, read_patient_file
from calcinosis.registry.models import (
    FEEDBACK_OUTCOMES,
    AssessmentRow,
    CdsFeedbackRow,
    FollowUpRow,
    LesionRow,
    PatientRow,
    ProcedureRow,
)
from calcinosis.registry.overview import Overview, clinic_overview
from calcinosis.registry.planning import Plan, make_plan
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientFile,
    PatientRecord,
    ProcedureRecord,
    assessment_record,
    follow_up_record,
    lesion_record,
    procedure_record,
)
from calcinosis.registry.timeline import TimelineEvent, timeline
from calcinosis.registry.transaction import Recorded, Tx
from calcinosis.registry.validate import (
    check_choice,
    check_identifier,
    check_text,
)

if TYPE_CHECKING:
    from calcinosis.core.knowledge import Knowledge
    from calcinosis.registry.intake import Intake

PAGE_MAX = 500


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Imported:
    patient_id: str
    how: str
    """"restored": a registry export, ids kept; "recorded": a clinical Bundle, assessed."""
    created: bool


class Registry:
    def __init__(
        self,
        engine: Engine,
        *,
        knowledge: Knowledge | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        check_schema: bool = True,
    ) -> None:
        self.engine = engine
        self.where = shown(engine.url)
        self._knowledge = knowledge
        self._clock = clock
        self._writes = sessionmaker(
            engine.execution_options(**WRITE), class_=audit.RegistrySession, expire_on_commit=False
        )
        if check_schema:
            with translated(self.where), engine.connect() as connection:
                migrate.require_current(connection)

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        knowledge: Knowledge | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> Registry:
        """The registry at `url` (default: CALCINOSIS_DATABASE_URL, else the SQLite file)."""
        parsed = database_url(url)
        path = sqlite_path(parsed)
        if path is not None and not path.exists():
            raise SchemaError(
                f"no registry database at {path}; run `calcinosis registry init` to create it"
            )
        engine = make_engine(parsed)
        try:
            return cls(engine, knowledge=knowledge, clock=clock)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def knowledge(self) -> Knowledge:
        if self._knowledge is None:
            from calcinosis.core.knowledge import load_knowledge

            self._knowledge = load_knowledge()
        return self._knowledge

    def transaction(self, actor: str) -> contextlib.AbstractContextManager[Tx]:
        """One audited write transaction, for modules that extend the registry (accounts.py)."""
        return self._write(actor)

    @contextlib.contextmanager
    def _write(self, actor: str) -> Iterator[Tx]:
        """One write transaction (BEGIN IMMEDIATE on SQLite) with its audit context."""
        who = audit.check_actor(actor)
        with translated(self.where):
            with self._writes.begin() as session:
                yield Tx(session, who, self._clock())
            audit.log_committed(session)

    def _intake(self, bundle: Mapping[str, Any], as_of: dt.date | None) -> Intake:
        # Imported here: the FHIR ingest and the engine cost a writer's start-up otherwise.
        from calcinosis.registry.intake import read_bundle

        return read_bundle(bundle, self.knowledge, as_of or self._clock().date())

    # ------------------------------------------------------------------ patients
    def register_patient(
        self,
        *,
        sex: str,
        birth_year: int | None = None,
        identifiers: tuple[Identifier, ...] = (),
        actor: str,
    ) -> PatientRecord:
        """A patient entered by hand (the web form); identifiers must be new to the registry."""
        with self._write(actor) as tx:
            if store.find_patient(tx.session, identifiers) is not None:
                raise DuplicateError("a patient with one of these identifiers is registered")
            row = tx.new_patient(sex, birth_year, identifiers)
            return store.patient(tx.session, row.id)

    def record_bundle(
        self, bundle: Mapping[str, Any], *, actor: str, as_of: dt.date | None = None
    ) -> Recorded:
        """Assess a clinical FHIR Bundle and store the patient (matched by identifier, or new),
        the lesions the examination describes and the assessment."""
        intake = self._intake(bundle, as_of)
        with self._write(actor) as tx:
            row = store.find_patient(tx.session, intake.identifiers)
            created = row is None
            if row is None:
                row = tx.new_patient(intake.sex, intake.birth_year, intake.identifiers)
            else:
                tx.add_identifiers(row.id, intake.identifiers)
            return tx.store_intake(row.id, intake, created)

    def assess(
        self,
        patient_id: str,
        bundle: Mapping[str, Any],
        *,
        actor: str,
        as_of: dt.date | None = None,
    ) -> Recorded:
        """Assess a new Bundle about a registered patient and store the result."""
        intake = self._intake(bundle, as_of)
        with self._write(actor) as tx:
            row = store.get_row(tx.session, PatientRow, patient_id)
            tx.add_identifiers(row.id, intake.identifiers)
            return tx.store_intake(row.id, intake, False)

    def patient(self, patient_id: str, *, actor: str) -> PatientRecord:
        with self._write(actor) as tx:
            tx.audit("read", "patient", patient_id)
            return store.patient(tx.session, patient_id)

    def patient_file(self, patient_id: str, *, actor: str) -> PatientFile:
        with self._write(actor) as tx:
            tx.audit("read", "patient", patient_id)
            return store.patient_file(tx.session, patient_id)

    def patients(
        self,
        *,
        actor: str,
        offset: int = 0,
        limit: int = 50,
        after: tuple[dt.datetime, str] | None = None,
    ) -> tuple[PatientRecord, ...]:
        """A page of patients, oldest registration first. `after` (the created_at and id of
        the last patient of the previous page) pages by key: a patient registered meanwhile
        neither repeats nor hides one."""
        if offset < 0 or not 1 <= limit <= PAGE_MAX:
            raise InvalidRecordError(f"offset must be 0 or more and limit 1-{PAGE_MAX}")
        with self._write(actor) as tx:
            tx.audit("list", "patient", "")
            query = select(PatientRow).order_by(PatientRow.created_at, PatientRow.id)
            if after is not None:
                at, last_id = after
                query = query.where(
                    or_(
                        PatientRow.created_at > at,
                        and_(PatientRow.created_at == at, PatientRow.id > last_id),
                    )
                )
            rows = tx.session.scalars(query.offset(offset).limit(limit)).all()
            return tuple(store.patient(tx.session, r.id) for r in rows)

    def find_patient(self, identifier: Identifier, *, actor: str) -> PatientRecord | None:
        check_identifier(identifier)
        with self._write(actor) as tx:
            row = store.find_patient(tx.session, [identifier])
            tx.audit("search", "patient", row.id if row else "")
            return store.patient(tx.session, row.id) if row else None

    def update_patient(self, record: PatientRecord, *, actor: str) -> PatientRecord:
        """Change sex or birth year (identifiers are added through Bundles, never edited)."""
        with self._write(actor) as tx:
            tx.edit(record, PatientRow)
            return store.patient(tx.session, record.id)

    # ------------------------------------------------------------------ lesions
    def add_lesion(
        self,
        patient_id: str,
        *,
        recorded_on: dt.date,
        site: str = "",
        count: int | None = None,
        size_mm_low: float | None = None,
        size_mm_high: float | None = None,
        morphology: str = "",
        actor: str,
    ) -> LesionRecord:
        record = LesionRecord(
            writes.new_id(), patient_id, recorded_on, site, count, size_mm_low, size_mm_high,
            morphology, 1,
        )  # fmt: skip
        with self._write(actor) as tx:
            store.get_row(tx.session, PatientRow, patient_id)
            return lesion_record(tx.insert(record, LesionRow))

    def lesion(self, lesion_id: str, *, actor: str) -> LesionRecord:
        with self._write(actor) as tx:
            tx.audit("read", "lesion", lesion_id)
            return lesion_record(store.get_row(tx.session, LesionRow, lesion_id))

    def update_lesion(self, record: LesionRecord, *, actor: str) -> LesionRecord:
        with self._write(actor) as tx:
            return lesion_record(tx.edit(record, LesionRow))

    # ------------------------------------------------------------------ sessions
    def record_procedure(
        self,
        patient_id: str,
        *,
        performed_on: dt.date,
        technique: str,
        lesions_treated: int | None = None,
        complications: str = "",
        actor: str,
    ) -> ProcedureRecord:
        record = ProcedureRecord(
            writes.new_id(), patient_id, performed_on, technique, lesions_treated, complications, 1
        )
        with self._write(actor) as tx:
            store.get_row(tx.session, PatientRow, patient_id)
            return procedure_record(tx.insert(record, ProcedureRow))

    def procedure(self, procedure_id: str, *, actor: str) -> ProcedureRecord:
        with self._write(actor) as tx:
            tx.audit("read", "procedure", procedure_id)
            return procedure_record(store.get_row(tx.session, ProcedureRow, procedure_id))

    def update_procedure(self, record: ProcedureRecord, *, actor: str) -> ProcedureRecord:
        with self._write(actor) as tx:
            return procedure_record(tx.edit(record, ProcedureRow))

    # ------------------------------------------------------------------ follow-ups
    def record_follow_up(
        self,
        patient_id: str,
        *,
        done_date: dt.date,
        recurrence: bool | None = None,
        lesion_count: int | None = None,
        satisfaction: int | None = None,
        review: FollowUpRecord | None = None,
        actor: str,
    ) -> FollowUpRecord:
        """A review that took place: completes the planned `review` (version-checked), or
        records an unplanned visit."""
        with self._write(actor) as tx:
            if review is not None:
                if review.patient_id != patient_id:
                    raise InvalidRecordError("the planned review belongs to another patient")
                done = replace(
                    review,
                    done_date=done_date,
                    recurrence=recurrence,
                    lesion_count=lesion_count,
                    satisfaction=satisfaction,
                )
                return follow_up_record(tx.edit(done, FollowUpRow))
            store.get_row(tx.session, PatientRow, patient_id)
            visit = FollowUpRecord(
                writes.new_id(), patient_id, "", None, None, done_date, recurrence, lesion_count,
                satisfaction, 1,
            )  # fmt: skip
            return follow_up_record(tx.insert(visit, FollowUpRow))

    def follow_up(self, follow_up_id: str, *, actor: str) -> FollowUpRecord:
        with self._write(actor) as tx:
            tx.audit("read", "follow-up", follow_up_id)
            return follow_up_record(store.get_row(tx.session, FollowUpRow, follow_up_id))

    def update_follow_up(self, record: FollowUpRecord, *, actor: str) -> FollowUpRecord:
        with self._write(actor) as tx:
            return follow_up_record(tx.edit(record, FollowUpRow))

    # ------------------------------------------------------------------ planning
    def plan(self, patient_id: str, *, actor: str, anchor: dt.date | None = None) -> Plan:
        """Propose sessions and reviews from the latest assessment (nothing is stored)."""
        return make_plan(self.patient_file(patient_id, actor=actor), self.knowledge, anchor)

    def schedule(self, plan: Plan, *, actor: str) -> tuple[FollowUpRecord, ...]:
        """Store the plan's reviews, replacing the patient's planned reviews not yet done."""
        with self._write(actor) as tx:
            file = store.patient_file(tx.session, plan.patient_id)
            for old in file.follow_ups:
                if old.planned_date is not None and old.done_date is None:
                    tx.session.delete(store.get_row(tx.session, FollowUpRow, old.id))
                    tx.audit("cancel", "follow-up", old.id)
            tx.session.flush()
            out = []
            for review in plan.reviews:
                record = FollowUpRecord(
                    writes.new_id(), plan.patient_id, review.kind, review.planned_date,
                    review.due_by, None, None, None, None, 1,
                )  # fmt: skip
                out.append(follow_up_record(tx.insert(record, FollowUpRow)))
            return tuple(out)

    def assessment(self, assessment_id: str, *, actor: str) -> AssessmentRecord:
        with self._write(actor) as tx:
            tx.audit("read", "assessment", assessment_id)
            return assessment_record(store.get_row(tx.session, AssessmentRow, assessment_id))

    def overview(self, as_of: dt.date, *, actor: str) -> Overview:
        """Every patient's follow-up status on `as_of` and the outcomes so far (overview.py)."""
        with self._write(actor) as tx:
            tx.audit("overview", "patient", "")
            return clinic_overview(store.histories(tx.session, pending_only=False), as_of)

    def audit_trail(
        self, *, actor: str, after: int = 0, limit: int = 100
    ) -> tuple[audit.AuditEntry, ...]:
        """Audit entries after the entry id `after`, oldest first; reading them is audited."""
        if after < 0 or not 1 <= limit <= PAGE_MAX:
            raise InvalidRecordError(f"after must be 0 or more and limit 1-{PAGE_MAX}")
        with self._write(actor) as tx:
            tx.audit("read", "audit", "")
            return tuple(audit.entries_after(tx.session, after, limit))

    def timeline(self, patient_id: str, *, actor: str) -> tuple[TimelineEvent, ...]:
        return timeline(self.patient_file(patient_id, actor=actor))

    def due(self, as_of: dt.date, *, actor: str) -> tuple[DueEntry, ...]:
        """Who is due, overdue or lost to follow-up on `as_of` (the rule: due.py)."""
        with self._write(actor) as tx:
            tx.audit("due-list", "patient", "")
            return due_list(store.histories(tx.session), as_of)

    # ------------------------------------------------------------------ FHIR
    def export_patient(self, patient_id: str, *, actor: str) -> dict[str, Any]:
        """The patient's whole file as a FHIR R4 Bundle (fhir_export.py)."""
        with self._write(actor) as tx:
            tx.audit("export", "patient", patient_id)
            file = store.patient_file(tx.session, patient_id)
        return patient_bundle(file, exported_at=tx.now)

    def import_bundle(
        self, bundle: Mapping[str, Any], *, actor: str, as_of: dt.date | None = None
    ) -> Imported:
        """A registry export is stored as it was (ids, versions, times); any other Bundle is
        recorded as a clinical Bundle (record_bundle)."""
        if not is_registry_export(bundle):
            done = self.record_bundle(bundle, actor=actor, as_of=as_of)
            return Imported(done.patient.id, "recorded", done.created)
        file = read_patient_file(bundle)
        with self._write(actor) as tx:
            tx.store_file(file)
        return Imported(file.patient.id, "restored", True)

    # ------------------------------------------------------------------ CDS Hooks feedback
    def record_cds_feedback(
        self,
        *,
        service_id: str,
        card_uuid: str,
        outcome: str,
        outcome_at: dt.datetime,
        override_reason_code: str | None = None,
    ) -> str:
        """Store one feedback item (no patient data, so no audit entry); returns its id."""
        for field, value in (("service_id", service_id), ("card_uuid", card_uuid)):
            check_text(value, field, 128)
        check_choice(outcome, "outcome", FEEDBACK_OUTCOMES)
        if override_reason_code is not None:
            check_text(override_reason_code, "override_reason_code", 128)
        if outcome_at.tzinfo is None:
            raise InvalidRecordError("outcome_at must carry a time zone")
        row = CdsFeedbackRow(
            id=writes.new_id(),
            service_id=service_id,
            card_uuid=card_uuid,
            outcome=outcome,
            override_reason_code=override_reason_code,
            outcome_at=outcome_at,
        )
        with translated(self.where), self._writes.begin() as session:
            session.add(row)
        return row.id
