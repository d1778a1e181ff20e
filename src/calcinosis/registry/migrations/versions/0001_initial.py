"""The registry: patients, identifiers, lesions, assessments, procedures, follow-ups, CDS
feedback, users and the append-only audit trail (with the triggers that keep it append-only).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = sa.String(36)

_SQLITE_GUARDS = [
    f"""
    CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit
    BEGIN SELECT RAISE(ABORT, 'audit is append-only: {verb} refused'); END
    """
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES_GUARDS = [
    """
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit is append-only: % refused', TG_OP;
    END $$
    """,
    """
    CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only()
    """,
    """
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()
    """,
]


def _table(name: str, *items: sa.Column[Any] | sa.Constraint) -> None:
    """Create a table whose primary key is `id`, with the names models.NAMING gives."""
    op.create_table(name, *items, sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")))


def _patient_fk(table: str) -> sa.Column[str]:
    fk = sa.ForeignKey("patients.id", name=op.f(f"fk_{table}_patient_id_patients"))
    return sa.Column("patient_id", _UUID, fk, nullable=False)


def upgrade() -> None:
    _table(
        "patients",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("sex", sa.String(16), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "sex IN ('female', 'male', 'other', 'unknown')", name=op.f("ck_patients_sex")
        ),
    )
    _table(
        "patient_identifiers",
        sa.Column("id", _UUID, nullable=False),
        _patient_fk("patient_identifiers"),
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.UniqueConstraint("system", "value", name=op.f("uq_patient_identifiers_system_value")),
    )
    _table(
        "lesions",
        sa.Column("id", _UUID, nullable=False),
        _patient_fk("lesions"),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("site", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("size_mm_low", sa.Float(), nullable=True),
        sa.Column("size_mm_high", sa.Float(), nullable=True),
        sa.Column("morphology", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("count IS NULL OR count >= 0", name=op.f("ck_lesions_count")),
        sa.CheckConstraint(
            "size_mm_low IS NULL OR size_mm_low >= 0", name=op.f("ck_lesions_size_low")
        ),
        sa.CheckConstraint(
            "size_mm_high IS NULL OR size_mm_high >= 0", name=op.f("ck_lesions_size_high")
        ),
    )
    _table(
        "assessments",
        sa.Column("id", _UUID, nullable=False),
        _patient_fk("assessments"),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("knowledge_version", sa.String(32), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("contract_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _table(
        "procedures",
        sa.Column("id", _UUID, nullable=False),
        _patient_fk("procedures"),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("technique", sa.String(32), nullable=False),
        sa.Column("lesions_treated", sa.Integer(), nullable=True),
        sa.Column("complications", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "technique IN ('rf-assisted-extraction', 'excision', 'laser', 'other')",
            name=op.f("ck_procedures_technique"),
        ),
        sa.CheckConstraint(
            "lesions_treated IS NULL OR lesions_treated >= 0", name=op.f("ck_procedures_treated")
        ),
    )
    _table(
        "follow_ups",
        sa.Column("id", _UUID, nullable=False),
        _patient_fk("follow_ups"),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=True),
        sa.Column("due_by", sa.Date(), nullable=True),
        sa.Column("done_date", sa.Date(), nullable=True),
        sa.Column("recurrence", sa.Boolean(), nullable=True),
        sa.Column("lesion_count", sa.Integer(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "planned_date IS NOT NULL OR done_date IS NOT NULL", name=op.f("ck_follow_ups_dated")
        ),
        sa.CheckConstraint(
            "due_by IS NULL OR planned_date IS NOT NULL", name=op.f("ck_follow_ups_due_by_planned")
        ),
        sa.CheckConstraint(
            "lesion_count IS NULL OR lesion_count >= 0", name=op.f("ck_follow_ups_lesion_count")
        ),
        sa.CheckConstraint(
            "satisfaction IS NULL OR (satisfaction >= 0 AND satisfaction <= 10)",
            name=op.f("ck_follow_ups_satisfaction"),
        ),
    )
    for table in ("patient_identifiers", "lesions", "assessments", "procedures", "follow_ups"):
        op.create_index(op.f(f"ix_{table}_patient_id"), table, ["patient_id"])
    _table(
        "cds_feedback",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_reason_code", sa.String(128), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'overridden')", name=op.f("ck_cds_feedback_outcome")
        ),
    )
    _table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", _UUID, nullable=False),
    )
    op.create_index(op.f("ix_audit_entity"), "audit", ["entity_type", "entity_id"])
    _table(
        "users",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("api_token_hash", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("role IN ('clinician', 'admin')", name=op.f("ck_users_role")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sa.UniqueConstraint("api_token_hash", name=op.f("uq_users_api_token_hash")),
    )
    guards = _POSTGRES_GUARDS if op.get_bind().dialect.name == "postgresql" else _SQLITE_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_no_truncate ON audit")
        op.execute("DROP TRIGGER audit_no_update_delete ON audit")
        op.execute("DROP FUNCTION audit_append_only()")
    else:
        op.execute("DROP TRIGGER audit_no_update")
        op.execute("DROP TRIGGER audit_no_delete")
    for table in ("users", "audit", "cds_feedback", "follow_ups", "procedures", "assessments"):
        op.drop_table(table)
    for table in ("lesions", "patient_identifiers", "patients"):
        op.drop_table(table)
