"""The schema on SQLite and PostgreSQL: migrations match the models and go down and up on a
database holding data; the audit trail is append-only in the database itself; constraints hold
whoever writes; connection settings; which database a URL selects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import DBAPIError

import pg
from calcinosis.registry import audit, database, migrate
from calcinosis.registry.errors import AuditAppendOnlyError, DatabaseUrlError, SchemaError
from calcinosis.registry.models import AuditRow, Base, PatientRow
from calcinosis.registry.service import Registry

DAY = dt.date(2026, 1, 1)


@pytest.fixture(params=pg.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, tmp_path: Path) -> Iterator[str]:
    with pg.fresh_database(kind, tmp_path) as made:
        yield made


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    made = database.make_engine(database.database_url(url))
    yield made
    made.dispose()


def populate(url: str) -> str:
    with Registry.open(url) as registry:
        patient = registry.register_patient(sex="female", birth_year=1990, actor="dr.a")
        registry.add_lesion(patient.id, recorded_on=DAY, count=5, actor="dr.a")
        registry.record_procedure(patient.id, performed_on=DAY, technique="laser", actor="dr.a")
        registry.record_follow_up(patient.id, done_date=DAY, satisfaction=8, actor="dr.a")
        return patient.id


def test_the_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert migrate.current_revision(connection) == migrate.head_revision()
    assert migrate.head_revision() == migrate.SCHEMA_REVISION  # the constant follows Alembic


def test_migrations_go_down_and_up_on_a_database_holding_data(url: str, engine: Engine) -> None:
    populate(url)
    assert migrate.downgrade(engine, migrate.BASE) is None
    with engine.connect() as connection:
        assert migrate.registry_tables(connection) == []
        assert migrate.current_revision(connection) is None
    with pytest.raises(SchemaError, match="not initialised; run `calcinosis registry init`"):
        Registry.open(url)
    assert migrate.upgrade(engine) == migrate.head_revision()
    with engine.connect() as connection:
        assert set(migrate.registry_tables(connection)) == set(Base.metadata.tables)
        assert connection.scalar(select(func.count()).select_from(PatientRow)) == 0
    populate(url)  # usable again, append-only triggers included
    with engine.begin() as connection, pytest.raises(DBAPIError):
        connection.execute(text("DELETE FROM audit"))


def test_an_unknown_revision_is_refused_naming_the_fix(url: str, engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="does not know"):
        Registry.open(url)
    with pytest.raises(SchemaError, match="cannot upgrade to 'nonsense'"):
        migrate.upgrade(engine, "nonsense")


def test_the_database_refuses_to_change_or_delete_audit_entries(
    url: str, engine: Engine, kind: str
) -> None:
    populate(url)
    with engine.connect() as connection:
        before = connection.execute(select(AuditRow).order_by(AuditRow.id)).all()
    assert len(before) == 4
    statements = ["UPDATE audit SET actor = 'someone else'", "DELETE FROM audit WHERE id = 1"]
    if kind == "postgresql":
        statements.append("TRUNCATE audit")
    for statement in statements:
        with engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(select(AuditRow).order_by(AuditRow.id)).all() == before


def test_a_registry_session_refuses_to_change_or_delete_audit_entries(engine: Engine) -> None:
    with audit.RegistrySession(engine) as session, session.begin():
        audit.record(
            session,
            actor="dr.a",
            action="read",
            entity_type="patient",
            entity_id="x",
            at=dt.datetime.now(dt.UTC),
        )
    with audit.RegistrySession(engine) as session:
        row = session.scalars(select(AuditRow)).one()
        row.actor = "someone else"
        with pytest.raises(AuditAppendOnlyError):
            session.flush()
        session.rollback()
        session.delete(session.scalars(select(AuditRow)).one())
        with pytest.raises(AuditAppendOnlyError):
            session.flush()
        session.rollback()
        with pytest.raises(AuditAppendOnlyError):
            session.execute(update(AuditRow).values(actor="x"))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO lesions (id, patient_id, recorded_on, site, morphology, version) "
        "VALUES ('l1', 'no-such-patient', '2026-01-01', '', '', 1)",
        "UPDATE follow_ups SET satisfaction = 11",
        "UPDATE procedures SET technique = 'magic'",
        "UPDATE patients SET sex = 'f'",
        "UPDATE follow_ups SET planned_date = NULL, due_by = NULL, done_date = NULL",
    ],
)
def test_the_database_holds_its_constraints_whoever_writes(
    url: str, engine: Engine, statement: str
) -> None:
    populate(url)
    with engine.begin() as connection, pytest.raises(DBAPIError):
        connection.execute(text(statement))


def test_sqlite_connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    with pg.fresh_database("sqlite", tmp_path) as url:
        made = database.make_engine(database.database_url(url))
        with made.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        made.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": database.BUSY_TIMEOUT_MS,
    }


def test_postgresql_sessions_talk_utf8_to_a_utf8_database(tmp_path: Path) -> None:
    with pg.fresh_database("postgresql", tmp_path) as url:
        made = database.make_engine(database.database_url(url))
        with made.connect() as connection:
            encoding = connection.exec_driver_sql("SHOW server_encoding").scalar()
        made.dispose()
    assert encoding == "UTF8"


def test_the_database_url_comes_from_the_environment_or_the_user_data_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(database.ENV_VAR, raising=False)
    expected = platformdirs.user_data_path("calcinosis") / "registry.sqlite3"
    assert database.sqlite_path(database.database_url()) == expected
    monkeypatch.setenv(database.ENV_VAR, "postgresql://clinic:s3cret@db.example/registry")
    chosen = database.database_url()
    assert chosen.drivername == "postgresql+psycopg"
    assert database.shown(chosen) == "postgresql+psycopg://clinic:***@db.example/registry"
    for bad, message in (
        ("mysql://db/registry", "database 'mysql' is not supported"),
        ("postgresql+psycopg2://db/registry", r"driver 'postgresql\+psycopg2' is not installed"),
        ("not a url", "is not a database URL"),
    ):
        monkeypatch.setenv(database.ENV_VAR, bad)
        with pytest.raises(DatabaseUrlError, match=message):
            database.database_url()


def test_a_missing_sqlite_file_is_not_created_by_mistake(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.sqlite3"
    with pytest.raises(SchemaError, match=r"no registry database at .*registry init"):
        Registry.open(f"sqlite:///{missing}")
    assert not missing.parent.exists()
