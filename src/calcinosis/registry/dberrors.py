"""Database exceptions -> registry errors, in one place.

Driver messages can quote the values of a statement (PostgreSQL's "Key (value)=(...) already
exists"), so messages are built from the constraint's name or the SQLite column list only, and
the original exception is not chained.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from calcinosis.registry.errors import (
    ConflictError,
    DatabaseUnavailableError,
    DuplicateError,
    InvalidRecordError,
    NotFoundError,
    RegistryError,
)

STALE = (
    "the record was changed by someone else since it was read; reload it and apply the change again"
)
SQLITE_BUSY_SNAPSHOT = 517
"""A SQLite read transaction tried to write after another connection committed: stale."""
# SQLSTATE classes (PostgreSQL) and message starts (SQLite) of integrity failures.
_PG = {
    "23505": DuplicateError,
    "23503": NotFoundError,
    "23514": InvalidRecordError,
    "23502": InvalidRecordError,
}
_SQLITE = {
    "UNIQUE constraint failed": DuplicateError,
    "FOREIGN KEY constraint failed": NotFoundError,
    "CHECK constraint failed": InvalidRecordError,
    "NOT NULL constraint failed": InvalidRecordError,
}


@contextlib.contextmanager
def translated(where: str) -> Iterator[None]:
    """Run a database operation; `where` names the database (password hidden) in messages."""
    try:
        yield
    except StaleDataError:
        raise ConflictError(STALE) from None
    except IntegrityError as exc:
        raise integrity_error(exc) from None
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) == SQLITE_BUSY_SNAPSHOT:
            raise ConflictError(STALE) from None
        raise DatabaseUnavailableError(
            f"the registry database {where} is unavailable or stayed busy: {_reason(exc)}"
        ) from None
    except DBAPIError as exc:
        raise RegistryError(
            f"the registry database refused the operation: {_reason(exc)}"
        ) from None


def integrity_error(exc: IntegrityError) -> RegistryError:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        diag = getattr(orig, "diag", None)
        name = getattr(diag, "constraint_name", None) or getattr(diag, "column_name", None)
        kind = _PG.get(state, InvalidRecordError)
        return kind(f"refused by the database: {_what(kind)} ({name or state})")
    text = str(orig)
    for start, kind in _SQLITE.items():
        if text.startswith(start):
            detail = text[len(start) :].strip(": ")
            return kind(f"refused by the database: {_what(kind)} ({detail or start})")
    return InvalidRecordError(f"refused by the database: {text.splitlines()[0][:120]}")


def _what(kind: type[RegistryError]) -> str:
    return {
        DuplicateError: "a record with these unique values exists already",
        NotFoundError: "it refers to a record that does not exist",
    }.get(kind, "a value breaks a rule of the table")


def _reason(exc: DBAPIError) -> str:
    """The first line of the driver's message; for connection and lock errors it holds no data
    from a statement."""
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and not state.startswith("08"):
        return f"SQLSTATE {state}"  # statement errors: the code only
    text = str(exc.orig).strip().splitlines()
    return text[0][:200] if text else type(exc.orig).__name__
