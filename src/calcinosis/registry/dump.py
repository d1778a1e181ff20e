"""Every registry table as portable JSON, in dependency order: PostgreSQL backups, restores across
databases, and tests that compare two databases row for row.

    {"format": "calcinosis-registry-dump", "format_version": 1, "revision": "0001",
     "tables": {"patients": {"columns": [...], "rows": [[...], ...]}, ...}}

Dates and times are ISO 8601 strings (times in UTC with their offset); everything else is the
column's JSON value. Reading checks the format, the tables and the columns against this schema.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Date, DateTime, Table, func, insert, select, text

from calcinosis.registry.errors import BackupError
from calcinosis.registry.models import AuditRow, Base

FORMAT = "calcinosis-registry-dump"
FORMAT_VERSION = 1
CHUNK = 500

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Dump:
    revision: str
    tables: dict[str, list[Row]]
    """Rows per table, each a tuple in the table's column order, ordered by primary key."""


def tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def read_tables(connection: Connection, revision: str) -> Dump:
    out: dict[str, list[Row]] = {}
    for table in tables():
        query = select(table).order_by(*table.primary_key.columns)
        out[table.name] = [tuple(row) for row in connection.execute(query)]
    return Dump(revision, out)


def write_tables(connection: Connection, dump: Dump) -> None:
    """Insert every row (the tables must be empty), then move PostgreSQL's audit id sequence
    past the restored ids."""
    for table in tables():
        names = [c.name for c in table.columns]
        rows = [dict(zip(names, row, strict=True)) for row in dump.tables.get(table.name, [])]
        for start in range(0, len(rows), CHUNK):
            connection.execute(insert(table), rows[start : start + CHUNK])
    if connection.dialect.name == "postgresql":
        top = connection.scalar(select(func.max(AuditRow.id)))
        if top is not None:
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('audit', 'id'), :top)"), {"top": top}
            )


def count_rows(connection: Connection, present: list[str]) -> int:
    return sum(
        connection.scalar(select(func.count()).select_from(t)) or 0
        for t in tables()
        if t.name in present
    )


def to_json(dump: Dump) -> bytes:
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "revision": dump.revision,
        "tables": {
            str(table.name): {
                "columns": [str(c.name) for c in table.columns],
                "rows": [[_encode(v) for v in row] for row in dump.tables.get(table.name, [])],
            }
            for table in tables()
        },
    }
    return orjson.dumps(body)


def from_json(data: bytes) -> Dump:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BackupError("the file is neither a SQLite backup nor a JSON registry dump") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise BackupError("the JSON file is not a Calcinosis registry dump")
    if body.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"dump format version {body.get('format_version')!r} is not supported")
    revision = body.get("revision")
    stored = body.get("tables")
    if not isinstance(revision, str) or not isinstance(stored, dict):
        raise BackupError("the dump has no revision or no tables")
    out: dict[str, list[Row]] = {}
    known = {t.name: t for t in tables()}
    for name, content in stored.items():
        table = known.get(name)
        if table is None:
            raise BackupError(f"the dump holds an unknown table {name!r}")
        columns = [c.name for c in table.columns]
        if not isinstance(content, dict) or content.get("columns") != columns:
            raise BackupError(f"table {name}: the columns differ from this schema's")
        rows = content.get("rows")
        if not isinstance(rows, list):
            raise BackupError(f"table {name}: rows must be a list")
        out[name] = [_decode_row(table, row, name) for row in rows]
    return Dump(revision, out)


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _decode_row(table: Table, row: Any, name: str) -> Row:
    if not isinstance(row, list) or len(row) != len(table.columns):
        raise BackupError(f"table {name}: a row does not match the columns")
    try:
        return tuple(
            _decode(column.type, value) for column, value in zip(table.columns, row, strict=True)
        )
    except (TypeError, ValueError):
        raise BackupError(f"table {name}: a date or time is malformed") from None


def _decode(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    impl = getattr(kind, "impl", kind)
    if isinstance(impl, DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(impl, Date):
        return dt.date.fromisoformat(value)
    return value
