"""Alembic environment: runs on the connection migrate.py passes in, or on CALCINOSIS_DATABASE_URL
when a developer runs the `alembic` command with migrations/alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from calcinosis.registry.database import WRITE, database_url, make_engine
from calcinosis.registry.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    engine = make_engine(database_url())
    try:
        with engine.connect() as connection, connection.execution_options(**WRITE).begin():
            _run(connection)
    finally:
        engine.dispose()


_main()
