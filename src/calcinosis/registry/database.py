"""Which database, and how to connect to it safely.

`CALCINOSIS_DATABASE_URL` selects the database; without it the registry is a SQLite file in the
user's data directory. Every SQLite connection gets WAL (readers never block the writer),
synchronous=FULL (a commit survives a crash of the process and of the machine), foreign keys and
a busy timeout. SQLAlchemy, not the sqlite3 module, starts SQLite transactions, so reads are
repeatable and DDL is transactional; write transactions start with BEGIN IMMEDIATE, so two
writers queue on the busy timeout instead of failing half-way through.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from calcinosis.registry.errors import DatabaseUrlError

ENV_VAR = "CALCINOSIS_DATABASE_URL"
SQLITE_FILE = "registry.sqlite3"
BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another to finish before giving up."""

WRITE = {"calcinosis_write": True}
"""Execution options of a write transaction (BEGIN IMMEDIATE on SQLite)."""


def default_url() -> str:
    path = platformdirs.user_data_path("calcinosis") / SQLITE_FILE
    return f"sqlite:///{path}"


def database_url(url: str | None = None) -> URL:
    """The URL given, else the environment's, else the default SQLite file; validated."""
    text = url or os.environ.get(ENV_VAR) or default_url()
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise DatabaseUrlError(
            f"{ENV_VAR} is not a database URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DATABASE"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgresql+psycopg"):
            return parsed.set(drivername="postgresql+psycopg")
        raise DatabaseUrlError(
            f"driver {parsed.drivername!r} is not installed; use postgresql+psycopg://..."
        )
    if backend == "sqlite" and parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    raise DatabaseUrlError(
        f"database {parsed.drivername!r} is not supported; use SQLite or PostgreSQL"
    )


def shown(url: URL) -> str:
    """The URL as it may appear in messages: never the password."""
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database))


def private_directory(path: Path) -> None:
    """Create the directory of a SQLite registry readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


def make_private(path: Path) -> None:
    """Patient data: the owner only (SQLite's -wal/-shm files take the database's mode)."""
    if path.exists():
        path.chmod(0o600)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


class _NoResultRows(logging.Filter):
    """Drops SQLAlchemy's DEBUG records, which print result rows (patient data) verbatim."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_ENGINE_LOGGER = logging.getLogger("sqlalchemy.engine.Engine")
if not any(isinstance(f, _NoResultRows) for f in _ENGINE_LOGGER.filters):
    _ENGINE_LOGGER.addFilter(_NoResultRows())


def make_engine(url: URL) -> Engine:
    """An engine for `url` with the connection settings described above.

    `hide_parameters` keeps statement values (identifiers, clinical values) out of exception
    texts and SQLAlchemy's statement log; the filter above keeps result rows out of it.
    """
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, hide_parameters=True)
        _configure_sqlite(engine, memory=sqlite_path(url) is None)
        return engine
    return create_engine(url, hide_parameters=True, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (BEGIN is emitted in _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("calcinosis_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
