"""Backup and restore on SQLite and PostgreSQL: a restore into an empty database gives back every
row; a database holding data is only overwritten with force; files from one database restore
into the other; a file that is no backup is refused."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import pg
from calcinosis.registry import backup, database, dump, migrate, writes
from calcinosis.registry.errors import BackupError, DatabaseNotEmptyError
from calcinosis.registry.models import UserRow
from calcinosis.registry.service import Registry

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/dev-vignettes/bundles/dev-seed-palanivel-2026.json"
)
NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 1, 1)


@pytest.fixture(params=pg.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    made = database.make_engine(database.database_url(url))
    try:
        yield made
    finally:
        made.dispose()


def populate(url: str, *, patients: int = 1) -> None:
    """Rows in every table: the seed's course, CDS feedback and a user."""
    with Registry.open(url) as registry:
        for _ in range(patients):
            bundle = orjson.loads(SEED.read_bytes())
            mrn = {"system": "urn:oid:1.2.3", "value": writes.new_id()}
            bundle["entry"][0]["resource"]["identifier"] = [mrn]
            done = registry.record_bundle(bundle, actor="a", as_of=DAY)
            pid = done.patient.id
            registry.record_procedure(
                pid, performed_on=DAY, technique="rf-assisted-extraction", actor="a"
            )
            registry.schedule(registry.plan(pid, actor="a"), actor="a")
            lesion = done.lesion
            assert lesion is not None
            registry.update_lesion(
                dataclasses.replace(lesion, count=12, size_mm_low=0.7), actor="b"
            )
            registry.record_follow_up(pid, done_date=DAY, satisfaction=6, actor="a")
        registry.record_cds_feedback(
            service_id="calcinosis-patient-view",
            card_uuid="c-1",
            outcome="accepted",
            outcome_at=NOW,
        )
        with Session(registry.engine) as session, session.begin():
            session.add(
                UserRow(
                    id=writes.new_id(),
                    username=f"dr.{writes.new_id()[:8]}",
                    role="clinician",
                    password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                    disabled=False,
                    api_token_hash=None,
                    created_at=NOW,
                    version=1,
                )
            )


def snapshot(url: str) -> dump.Dump:
    with engine_for(url) as engine, engine.connect() as connection:
        return dump.read_tables(connection, migrate.current_revision(connection) or "")


def check_restored(original: dump.Dump, restored: dump.Dump) -> None:
    """Every row back, in every table; the audit trail gains the restore's own entry."""
    assert restored.revision == original.revision
    for name, rows in original.tables.items():
        if name == "audit":
            assert restored.tables[name][:-1] == rows
            added = restored.tables[name][-1]
            assert added[2:] == ("restorer", "restore", "registry", "")
        else:
            assert restored.tables[name] == rows, name
    assert [t.name for t in dump.tables() if not original.tables[t.name]] == []  # all exercised


@pytest.mark.parametrize("initialised", [False, True])
def test_backup_then_restore_into_an_empty_database_gives_back_every_row(
    kind: str, tmp_path: Path, initialised: bool
) -> None:
    file = tmp_path / "registry.backup"
    with pg.fresh_database(kind, tmp_path) as source:
        populate(source)
        with engine_for(source) as engine:
            made = backup.backup(engine, file, actor="keeper", now=NOW)
        original = snapshot(source)
    assert made.kind == ("sqlite" if kind == "sqlite" else "json")
    assert file.read_bytes().startswith(b"SQLite format 3\x00" if kind == "sqlite" else b"{")
    assert original.tables["audit"][-1][2:] == ("keeper", "backup", "registry", "")
    with pg.fresh_database(kind, tmp_path, initialised=initialised) as target:
        with engine_for(target) as engine:
            reached = backup.restore(engine, file, force=False, actor="restorer", now=NOW)
        assert reached == migrate.head_revision()
        check_restored(original, snapshot(target))
        with Registry.open(target) as registry:  # usable, ids continue past the restored ones
            registry.register_patient(sex="female", actor="after")


def test_a_database_holding_data_is_overwritten_only_with_force(kind: str, tmp_path: Path) -> None:
    file = tmp_path / "registry.backup"
    with pg.fresh_database(kind, tmp_path) as source:
        populate(source)
        with engine_for(source) as engine:
            backup.backup(engine, file, actor="keeper", now=NOW)
        original = snapshot(source)
    with pg.fresh_database(kind, tmp_path) as target:
        populate(target, patients=2)
        before = snapshot(target)
        with engine_for(target) as engine:
            with pytest.raises(DatabaseNotEmptyError, match="pass --force"):
                backup.restore(engine, file, force=False, actor="restorer", now=NOW)
            assert snapshot(target) == before
            backup.restore(engine, file, force=True, actor="restorer", now=NOW)
        check_restored(original, snapshot(target))


def test_backups_restore_into_the_other_database(tmp_path: Path) -> None:
    for first, second in (("sqlite", "postgresql"), ("postgresql", "sqlite")):
        file = tmp_path / f"from-{first}.backup"
        with pg.fresh_database(first, tmp_path) as source:
            populate(source)
            with engine_for(source) as engine:
                backup.backup(engine, file, actor="keeper", now=NOW)
            original = snapshot(source)
        with pg.fresh_database(second, tmp_path, initialised=False) as target:
            with engine_for(target) as engine:
                backup.restore(engine, file, force=False, actor="restorer", now=NOW)
            check_restored(original, snapshot(target))


def test_a_file_that_is_no_backup_is_refused(kind: str, tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    cases = {
        "garbage.bin": (
            b"\x00\x01 not a backup",
            "neither a SQLite backup nor a JSON registry dump",
        ),
        "other.json": (b'{"format": "something else"}', "not a Calcinosis registry dump"),
        "newer.json": (
            orjson.dumps({"format": dump.FORMAT, "format_version": 99}),
            "dump format version 99 is not supported",
        ),
    }
    with (
        pg.fresh_database(kind, tmp_path, initialised=False) as target,
        engine_for(target) as engine,
    ):
        for name, (data, message) in cases.items():
            (tmp_path / name).write_bytes(data)
            with pytest.raises(BackupError, match=message):
                backup.restore(engine, tmp_path / name, force=False, actor="r", now=NOW)
        with pytest.raises(BackupError, match="not a Calcinosis registry"):
            backup.restore(engine, other, force=False, actor="r", now=NOW)
        with pytest.raises(BackupError, match="cannot read"):
            backup.restore(engine, tmp_path / "missing", force=False, actor="r", now=NOW)


def test_a_backup_that_cannot_be_written_leaves_no_file(kind: str, tmp_path: Path) -> None:
    target = tmp_path / "no-such-directory" / "registry.backup"
    with (
        pg.fresh_database(kind, tmp_path) as url,
        engine_for(url) as engine,
        pytest.raises(BackupError, match="cannot write"),
    ):
        backup.backup(engine, target, actor="keeper", now=NOW)
    assert not target.parent.exists()
