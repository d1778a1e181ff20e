"""The audit trail: append-only, written in the same transaction as the change it records.

Append-only is enforced twice. Here, a registry session refuses to flush a changed or deleted
audit row and refuses bulk UPDATE/DELETE statements on the table; in the database, triggers
created by the migration refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) whoever sends them.
Entries hold who, what, which record and when: never a clinical value or an identifier.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from calcinosis.registry.errors import AuditAppendOnlyError, InvalidRecordError
from calcinosis.registry.models import AuditRow

log = logging.getLogger("calcinosis.registry")

ACTOR_MAX = 200
PENDING_LOG = "calcinosis_audit_log"
AUDIT_TABLE = AuditRow.__tablename__


class RegistrySession(Session):
    """The only session class the registry uses; it carries the append-only guard."""


@event.listens_for(RegistrySession, "before_flush")
def _no_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.dirty, *session.deleted):
        if isinstance(row, AuditRow) and (row in session.deleted or session.is_modified(row)):
            raise AuditAppendOnlyError("audit entries cannot be changed or deleted")


@event.listens_for(RegistrySession, "do_orm_execute")
def _no_audit_bulk_changes(state: ORMExecuteState) -> None:
    table = getattr(state.statement, "table", None)
    if (state.is_update or state.is_delete) and getattr(table, "name", None) == AUDIT_TABLE:
        raise AuditAppendOnlyError("audit entries cannot be changed or deleted")


def check_actor(actor: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > ACTOR_MAX:
        raise InvalidRecordError(f"the actor must be 1-{ACTOR_MAX} characters (who is acting)")
    return actor


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    at: dt.datetime,
) -> None:
    """Add one entry to the session's transaction; it commits or rolls back with the change."""
    session.add(
        AuditRow(at=at, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id)
    )
    session.info.setdefault(PENDING_LOG, []).append((action, entity_type, entity_id))


def log_committed(session: Session) -> None:
    """Log what the committed transaction did: pseudonymous record ids, never values."""
    for action, entity_type, entity_id in session.info.pop(PENDING_LOG, []):
        log.info("registry %s %s %s", action, entity_type, entity_id)


def entries(session: Session, *, offset: int = 0, limit: int = 100) -> list[AuditRow]:
    """Audit entries, oldest first."""
    rows = session.scalars(select(AuditRow).order_by(AuditRow.id).offset(offset).limit(limit))
    return list(rows)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str


def entries_after(session: Session, after: int, limit: int) -> list[AuditEntry]:
    """Entries with an id above `after`, oldest first (ids only grow: a stable cursor)."""
    query = select(AuditRow).where(AuditRow.id > after).order_by(AuditRow.id).limit(limit)
    return [
        AuditEntry(r.id, r.at, r.actor, r.action, r.entity_type, r.entity_id)
        for r in session.scalars(query)
    ]
