"""The registry's errors, all under `calcinosis.errors.CalcinosisError` so every shell maps them.

    RegistryError                   base; code "registry-error"
    ├── DatabaseUrlError            CALCINOSIS_DATABASE_URL names no database we support
    ├── DatabaseUnavailableError    cannot connect, or the database stayed locked too long
    ├── SchemaError                 the database is not initialised or not at this schema
    ├── NotFoundError               no such patient / record (HTTP 404)
    ├── ConflictError               a stale version was edited (HTTP 412: ETag / If-Match)
    ├── DuplicateError              the record exists already (HTTP 409)
    ├── InvalidRecordError          a value is out of range or malformed (HTTP 422)
    ├── AuditAppendOnlyError        something tried to change or delete an audit entry
    ├── PlanningError               no plan can be made (no assessment, unusable interval)
    └── BackupError                 a backup or restore failed
        └── DatabaseNotEmptyError   restore would overwrite data (use --force)

Messages name the record and the fix; they never quote identifiers, names, birth dates or
clinical values, because messages end up in logs and on shared screens.
"""

from __future__ import annotations

from calcinosis.errors import CalcinosisError


class RegistryError(CalcinosisError):
    code = "registry-error"


class DatabaseUrlError(RegistryError):
    code = "bad-database-url"


class DatabaseUnavailableError(RegistryError):
    code = "database-unavailable"


class SchemaError(RegistryError):
    code = "schema-not-ready"


class NotFoundError(RegistryError):
    code = "not-found"


class ConflictError(RegistryError):
    """The record changed since the caller read it; reload, reapply, retry."""

    code = "conflict"

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class DuplicateError(RegistryError):
    code = "duplicate"


class InvalidRecordError(RegistryError):
    code = "invalid-record"


class AuditAppendOnlyError(RegistryError):
    code = "audit-append-only"


class PlanningError(RegistryError):
    code = "cannot-plan"


class BackupError(RegistryError):
    code = "backup-failed"


class DatabaseNotEmptyError(BackupError):
    code = "database-not-empty"
