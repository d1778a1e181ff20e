"""The registry's tables (SQLAlchemy 2 typed ORM). The Alembic migrations create exactly these.

Patients are known by a random pseudonymous id; what identifies a person (MRN, the source
system's patient id) lives apart in `patient_identifiers`, and only the birth year is kept.
Editable rows carry `version` (SQLAlchemy's version_id_col): an UPDATE names the version it read,
so an edit based on a stale copy fails instead of overwriting someone else's change. The
registry sets versions itself (version_id_generator=False), so an import keeps them.
Ids are UUID strings, so a FHIR export can be imported elsewhere with the same ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TECHNIQUE_LABELS = {
    "rf-assisted-extraction": "Radiofrequency-assisted extraction",
    "excision": "Surgical excision",
    "laser": "Laser treatment",
    "other": "Other procedure",
}
TECHNIQUES = tuple(TECHNIQUE_LABELS)
ROLES = ("clinician", "admin")
FEEDBACK_OUTCOMES = ("accepted", "overridden")
SEXES = ("female", "male", "other", "unknown")

UUID_LENGTH = 36
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every database (SQLite stores it naive, read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the registry stores aware UTC times")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if not isinstance(value, dt.datetime):
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PatientRow(Base):
    __tablename__ = "patients"
    __table_args__ = (CheckConstraint(_one_of("sex", SEXES), name="sex"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    sex: Mapped[str] = mapped_column(String(16))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class IdentifierRow(Base):
    """What identifies the person; never logged, never exported except in the patient's FHIR."""

    __tablename__ = "patient_identifiers"
    __table_args__ = (UniqueConstraint("system", "value"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))


class LesionRow(Base):
    __tablename__ = "lesions"
    __table_args__ = (
        CheckConstraint("count IS NULL OR count >= 0", name="count"),
        CheckConstraint("size_mm_low IS NULL OR size_mm_low >= 0", name="size_low"),
        CheckConstraint("size_mm_high IS NULL OR size_mm_high >= 0", name="size_high"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    site: Mapped[str] = mapped_column(Text)
    count: Mapped[int | None] = mapped_column(Integer)
    size_mm_low: Mapped[float | None] = mapped_column(Float)
    size_mm_high: Mapped[float | None] = mapped_column(Float)
    morphology: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class AssessmentRow(Base):
    """A stored assessment: the contract JSON exactly as produced (text, so bytes round-trip)."""

    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    knowledge_version: Mapped[str] = mapped_column(String(32))
    input_sha256: Mapped[str] = mapped_column(String(64))
    contract_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ProcedureRow(Base):
    __tablename__ = "procedures"
    __table_args__ = (
        CheckConstraint(_one_of("technique", TECHNIQUES), name="technique"),
        CheckConstraint("lesions_treated IS NULL OR lesions_treated >= 0", name="treated"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    performed_on: Mapped[dt.date] = mapped_column(Date)
    technique: Mapped[str] = mapped_column(String(32))
    lesions_treated: Mapped[int | None] = mapped_column(Integer)
    complications: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class FollowUpRow(Base):
    """A planned review (planned_date..due_by, from a knowledge rule `kind`), a visit (done_date
    with its outcome), or both: a planned review that took place."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint("planned_date IS NOT NULL OR done_date IS NOT NULL", name="dated"),
        CheckConstraint("due_by IS NULL OR planned_date IS NOT NULL", name="due_by_planned"),
        CheckConstraint("lesion_count IS NULL OR lesion_count >= 0", name="lesion_count"),
        CheckConstraint(
            "satisfaction IS NULL OR (satisfaction >= 0 AND satisfaction <= 10)",
            name="satisfaction",
        ),
    )

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    kind: Mapped[str] = mapped_column(String(128))
    planned_date: Mapped[dt.date | None] = mapped_column(Date)
    due_by: Mapped[dt.date | None] = mapped_column(Date)
    done_date: Mapped[dt.date | None] = mapped_column(Date)
    recurrence: Mapped[bool | None] = mapped_column(Boolean)
    lesion_count: Mapped[int | None] = mapped_column(Integer)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


class CdsFeedbackRow(Base):
    """What a clinician did with a CDS Hooks card; no patient data."""

    __tablename__ = "cds_feedback"
    __table_args__ = (CheckConstraint(_one_of("outcome", FEEDBACK_OUTCOMES), name="outcome"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(128))
    card_uuid: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason_code: Mapped[str | None] = mapped_column(String(128))
    outcome_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AuditRow(Base):
    """Append-only: who did what to which record, when. Never a clinical value.

    The repository refuses to change or delete rows (see audit.py) and the database refuses
    too (triggers created by the migration)."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(UUID_LENGTH))


class UserRow(Base):
    """Local users for sign-in (used by the web shell's sign-in step)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="role"),)

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean)
    api_token_hash: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012


PATIENT_TABLES = (PatientRow, IdentifierRow, LesionRow, AssessmentRow, ProcedureRow, FollowUpRow)
"""The tables a patient's FHIR export carries, in dependency order."""
