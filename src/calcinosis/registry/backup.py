"""`calcinosis registry backup FILE` and `restore FILE [--force]`.

Backup: a SQLite registry is copied with SQLite's online backup API (a consistent copy while
others keep working); a PostgreSQL registry is written as a JSON dump (dump.py) read in one
REPEATABLE READ snapshot. The file appears under its name only when complete (written beside
it, then renamed). The backup's own audit entry is committed first, so the copy records it.

Restore reads either kind of file into either database. It refuses a database that holds
data unless `force` is given; with `force` the schema is dropped and rebuilt first (not atomic:
if a forced restore fails, run it again). A restored registry is upgraded to this package's
schema and gets a "restore" audit entry; apart from that entry, restoring into an empty
database gives back every row exactly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine

from calcinosis.registry import audit, dump, migrate
from calcinosis.registry.database import WRITE, shown, sqlite_path
from calcinosis.registry.dberrors import translated
from calcinosis.registry.errors import BackupError, DatabaseNotEmptyError, SchemaError

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    kind: str  # sqlite | json
    revision: str


def backup(engine: Engine, target: Path, *, actor: str, now: dt.datetime) -> BackupInfo:
    where = shown(engine.url)
    with translated(where):
        with engine.connect() as connection:
            migrate.require_current(connection)
        _audit(engine, actor, "backup", now)
        partial = target.with_name(f".{target.name}.partial")
        try:
            if engine.dialect.name == "sqlite":
                kind = "sqlite"
                _sqlite_copy_out(engine, partial)
            else:
                kind = "json"
                with (
                    engine.connect().execution_options(
                        isolation_level="REPEATABLE READ"
                    ) as connection,
                    connection.begin(),
                ):
                    snapshot = dump.read_tables(connection, migrate.head_revision())
                partial.write_bytes(dump.to_json(snapshot))
            os.replace(partial, target)
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise BackupError(f"cannot write {target}: {reason}") from None
    return BackupInfo(target, kind, migrate.head_revision())


def _sqlite_copy_out(engine: Engine, partial: Path) -> None:
    partial.unlink(missing_ok=True)
    raw = engine.raw_connection()
    try:
        destination = sqlite3.connect(partial)
        try:
            raw.driver_connection.backup(destination)  # type: ignore[union-attr]
        finally:
            destination.close()
    finally:
        raw.close()


def restore(engine: Engine, source: Path, *, force: bool, actor: str, now: dt.datetime) -> str:
    """Restore `source` into the database of `engine`; returns the schema revision reached."""
    where = shown(engine.url)
    try:
        with source.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror or exc}") from None
    with translated(where):
        with engine.connect() as connection:
            present = migrate.registry_tables(connection)
            if dump.count_rows(connection, present) and not force:
                raise DatabaseNotEmptyError(
                    f"{where} holds registry data; restore only into an empty database, or "
                    "pass --force to replace everything in it"
                )
        if head == SQLITE_MAGIC and engine.dialect.name == "sqlite":
            _sqlite_copy_in(engine, source)
        else:
            snapshot = _read_sqlite(source) if head == SQLITE_MAGIC else _read_json(source)
            _load(engine, snapshot)
        reached = migrate.upgrade(engine)
        _audit(engine, actor, "restore", now)
    return reached or ""


def _read_json(source: Path) -> dump.Dump:
    try:
        return dump.from_json(source.read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read {source}: {exc.strerror or exc}") from None


def _read_sqlite(source: Path) -> dump.Dump:
    """Read a SQLite backup through a read-only engine, after checking it is sound."""
    engine = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    )
    try:
        with engine.connect() as connection:
            _check_sqlite_backup(connection.exec_driver_sql("PRAGMA integrity_check").scalar())
            revision = migrate.current_revision(connection)
            if revision is None:
                raise BackupError(f"{source} is a SQLite file but not a Calcinosis registry")
            _check_revision(revision)
            return dump.read_tables(connection, revision)
    finally:
        engine.dispose()


def _check_sqlite_backup(result: object) -> None:
    if result != "ok":
        raise BackupError("the SQLite backup fails its integrity check")


def _check_revision(revision: str) -> None:
    if revision not in migrate.known_revisions():
        raise SchemaError(
            f"the backup is at schema {revision}, which this Calcinosis does not know "
            "(made by a newer version?); upgrade Calcinosis"
        )


def _sqlite_copy_in(engine: Engine, source: Path) -> None:
    path = sqlite_path(engine.url)
    if path is None:
        raise BackupError("cannot restore a SQLite backup into an in-memory database")
    origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check_sqlite_backup(origin.execute("PRAGMA integrity_check").fetchone()[0])
        found = origin.execute("SELECT version_num FROM alembic_version").fetchone()
        _check_revision(found[0])
        engine.dispose()  # our pooled connections would see the old file's pages
        target = sqlite3.connect(path)
        try:
            origin.backup(target)
        finally:
            target.close()
    except sqlite3.DatabaseError:
        raise BackupError(f"{source} is a SQLite file but not a Calcinosis registry") from None
    finally:
        origin.close()


def _load(engine: Engine, snapshot: dump.Dump) -> None:
    """Build the dump's schema (dropping whatever is there), load the rows."""
    _check_revision(snapshot.revision)
    with engine.connect() as connection:
        present = migrate.registry_tables(connection)
        current = migrate.current_revision(connection)
        has_rows = bool(dump.count_rows(connection, present))
    if has_rows or (current is not None and current != snapshot.revision):
        migrate.downgrade(engine, migrate.BASE)
    migrate.upgrade(engine, snapshot.revision)
    with engine.connect() as connection, connection.execution_options(**WRITE).begin():
        dump.write_tables(connection, snapshot)


def _audit(engine: Engine, actor: str, action: str, now: dt.datetime) -> None:
    who = audit.check_actor(actor)
    with audit.RegistrySession(engine.execution_options(**WRITE)) as session, session.begin():
        audit.record(
            session, actor=who, action=action, entity_type="registry", entity_id="", at=now
        )
    audit.log_committed(session)
