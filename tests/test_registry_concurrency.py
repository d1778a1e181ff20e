"""Several processes write to the same patient at once, on SQLite and on PostgreSQL: each reads
the lesion, increments its count and retries on ConflictError, and adds a session. No update is
lost, and no transaction or lock is left behind."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

import pg
from calcinosis.registry import database
from calcinosis.registry.models import AuditRow, ProcedureRow
from calcinosis.registry.service import Registry

WORKERS = 4
ROUNDS = 8
# One process imports everything, then forks the workers (each opens its own connections) and
# releases them together by closing a pipe they all wait on.
WORKERS_SCRIPT = """
import dataclasses, datetime, os, sys
import psycopg, sqlalchemy.dialects.postgresql.psycopg, sqlalchemy.dialects.sqlite
from calcinosis.registry.errors import ConflictError
from calcinosis.registry.service import Registry

patient_id, lesion_id = sys.argv[1], sys.argv[2]
workers, rounds = int(sys.argv[3]), int(sys.argv[4])

def work(start):
    with Registry.open() as registry:
        os.read(start, 1)  # blocks until the parent closes the pipe
        conflicts = 0
        for n in range(rounds):
            while True:
                current = registry.lesion(lesion_id, actor="worker")
                try:
                    registry.update_lesion(
                        dataclasses.replace(current, count=current.count + 1), actor="worker"
                    )
                    break
                except ConflictError:
                    conflicts += 1
            registry.record_procedure(
                patient_id, performed_on=datetime.date(2026, 1, 1), technique="laser",
                actor="worker",
            )
    print("done", conflicts, flush=True)

start, release = os.pipe()
children = []
for _ in range(workers):
    child = os.fork()
    if child == 0:
        os.close(release)
        status = 1
        try:
            work(start)
            status = 0
        finally:
            os._exit(status)
    children.append(child)
os.close(release)
codes = [os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) for child in children]
print("exit", *codes, flush=True)
"""


@pytest.mark.parametrize("kind", pg.KINDS)
def test_concurrent_writers_lose_no_update_and_leave_no_lock(kind: str, tmp_path: Path) -> None:
    with pg.fresh_database(kind, tmp_path) as url:
        with Registry.open(url) as registry:
            patient = registry.register_patient(sex="female", actor="setup")
            lesion = registry.add_lesion(
                patient.id, recorded_on=dt.date(2026, 1, 1), count=0, actor="setup"
            )
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                WORKERS_SCRIPT,
                patient.id,
                lesion.id,
                str(WORKERS),
                str(ROUNDS),
            ],
            capture_output=True,
            env={**os.environ, database.ENV_VAR: url},
            text=True,
            timeout=120,
            check=False,
        )
        lines = done.stdout.splitlines()
        assert lines[-1:] == ["exit" + " 0" * WORKERS], done.stderr
        assert sorted(line.split()[0] for line in lines[:-1]) == ["done"] * WORKERS
        with Registry.open(url) as registry:
            final = registry.lesion(lesion.id, actor="check")
            with registry.engine.connect() as connection:
                sessions = connection.scalar(select(func.count()).select_from(ProcedureRow))
                updates = connection.scalar(
                    select(func.count()).where(
                        AuditRow.action == "update", AuditRow.entity_id == lesion.id
                    )
                )
        check_nothing_left_behind(url, kind)
    total = WORKERS * ROUNDS
    assert (final.count, final.version, sessions, updates) == (total, total + 1, total, total)


def check_nothing_left_behind(url: str, kind: str) -> None:
    """Run once every worker has exited and the test's own connections are closed."""
    parsed = database.database_url(url)
    if kind == "sqlite":
        raw = sqlite3.connect(str(database.sqlite_path(parsed)), timeout=0, isolation_level=None)
        try:
            # A lock left behind would make an immediate write, or a full checkpoint, fail.
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
            busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.close()
        assert busy == 0
        return
    engine = database.make_engine(parsed)
    try:
        with engine.connect() as connection:
            others = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND (state <> 'idle' OR wait_event_type = 'Lock')"
                )
            ).scalar()
            waiting = connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            assert (others, waiting.scalar()) == (0, 0)
    finally:
        engine.dispose()
