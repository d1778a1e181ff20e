"""Schema migrations through Alembic, configured in code (no alembic.ini needed at run time).

Each upgrade or downgrade runs in one write transaction: on PostgreSQL and SQLite (with the
BEGIN that database.py emits) DDL is transactional, so a failed migration leaves the schema as
it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from calcinosis.registry.database import WRITE
from calcinosis.registry.errors import SchemaError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "calcinosis.registry:migrations"
SCHEMA_REVISION = "0001"
"""The newest revision in migrations/versions (a test checks it against Alembic). Knowing it
here lets the registry check its schema without importing Alembic (a third of a second)."""
VERSION_TABLE = "alembic_version"
BASE = "base"
HEAD = "head"


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise SchemaError("the package ships no schema revision")
    return head


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The database's revision; None when it was never initialised (or downgraded to base)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))
    return str(found) if found is not None else None


def upgrade(engine: Engine, revision: str = HEAD) -> str | None:
    """Upgrade to `revision` (default: the newest); returns the revision reached."""
    return _migrate(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> str | None:
    """Downgrade to `revision` ("-1" one step, "base" drops every table and its data)."""
    return _migrate(engine, "downgrade", revision)


def _migrate(engine: Engine, direction: str, revision: str) -> str | None:
    from alembic import command
    from alembic.util.exc import CommandError

    with engine.connect() as connection, connection.execution_options(**WRITE).begin():
        config = _config(connection)
        try:
            if direction == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        except CommandError as exc:
            raise SchemaError(f"cannot {direction} to {revision!r}: {exc}") from None
        return current_revision(connection)


def require_current(connection: Connection) -> None:
    """Refuse to work on a database that is not at this package's schema, naming the fix."""
    found = current_revision(connection)
    head = SCHEMA_REVISION
    if found == head:
        return
    if found is None:
        raise SchemaError(
            "the registry database is not initialised; run `calcinosis registry init`"
        )
    if found in known_revisions():
        raise SchemaError(
            f"the registry database is at schema {found}, this Calcinosis needs {head}; "
            "run `calcinosis registry upgrade`"
        )
    raise SchemaError(
        f"the registry database is at schema {found}, which this Calcinosis does not know "
        "(made by a newer version?); upgrade Calcinosis"
    )


def registry_tables(connection: Connection) -> list[str]:
    """The registry's tables present in the database (alembic_version excluded)."""
    from calcinosis.registry.models import Base

    present = set(inspect(connection).get_table_names())
    return [table.name for table in Base.metadata.sorted_tables if table.name in present]
