"""Nothing committed is lost: a writer process is killed with SIGKILL at random moments, 20
times, on SQLite and on PostgreSQL. Afterwards every record it reported committed is there, each
transaction is whole (a patient with its identifier and audit entry, never one without the
other), and the database passes its own integrity checks.

The writer prints a record's id only after the commit returned, so a printed id is a promise
the database must keep. Kill times are random but seeded, for a reproducible sequence.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import Connection, select, text

import pg
from calcinosis.registry import database
from calcinosis.registry.models import AuditRow, IdentifierRow, LesionRow, PatientRow

KILLS = 20
LINE_DEADLINE_S = 60
# One process imports everything once, then forks a fresh writer for each run, so 20 runs do not
# pay 20 interpreter start-ups. Each writer opens its own connections after the fork.
WRITERS = """
import dataclasses, datetime, os, sys
import psycopg, sqlalchemy.dialects.postgresql.psycopg, sqlalchemy.dialects.sqlite
from calcinosis.registry.records import Identifier
from calcinosis.registry.service import Registry

def say(*parts):
    # One write(2) per line: a pipe write under PIPE_BUF is atomic, so a SIGKILL can never leave
    # half a line (print() may issue one write per piece, e.g. under PYTHONUNBUFFERED).
    os.write(1, (" ".join(map(str, parts)) + "\\n").encode())

def write():
    say("started", os.getpid())
    registry = Registry.open()
    day = datetime.date(2026, 1, 1)
    for n in range(1, 1_000_000):
        mrn = Identifier("urn:calcinosis:test:crash", f"{os.getpid()}-{n}")
        patient = registry.register_patient(sex="female", identifiers=(mrn,), actor="writer")
        say("patient", patient.id)
        lesion = registry.add_lesion(patient.id, recorded_on=day, count=n, actor="writer")
        say("lesion", lesion.id, 1)
        lesion = registry.update_lesion(dataclasses.replace(lesion, count=n + 1), actor="writer")
        say("lesion", lesion.id, lesion.version)

for _ in sys.stdin:
    child = os.fork()
    if child == 0:
        try:
            write()
        finally:
            os._exit(1)
    os.waitpid(child, 0)
    say("ended", child)
"""


class Lines:
    """The writers' output, read by a thread, so a writer that falls silent fails the test after
    a deadline (with what it said last) instead of hanging the suite."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self.last: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put("")

    def readline(self) -> str:
        try:
            line = self._queue.get(timeout=LINE_DEADLINE_S)
        except queue.Empty:
            pytest.fail(f"the writers said nothing for {LINE_DEADLINE_S} s; last: {self.last}")
        self.last = [*self.last[-4:], line.strip()]
        return line


def run_and_kill(writers: subprocess.Popen[str], lines: Lines, delay: float) -> list[list[str]]:
    """Fork a writer, SIGKILL it `delay` seconds after its first commit; what it reported."""
    assert writers.stdin is not None
    writers.stdin.write("go\n")
    writers.stdin.flush()
    started = lines.readline().split()
    assert started[:1] == ["started"], started
    pid = int(started[1])
    reported = [lines.readline().split()]
    if reported[0][:1] != ["patient"]:
        pytest.fail(f"the writer died before committing anything: {reported}")
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    while (line := lines.readline().split()) != ["ended", str(pid)]:
        assert line, "the writers' parent died"
        reported.append(line)
    return reported


@pytest.mark.parametrize("kind", pg.KINDS)
def test_records_reported_committed_survive_sigkill_and_the_database_stays_sound(
    kind: str, tmp_path: Path
) -> None:
    chance = random.Random(f"crash-{kind}")
    reported: list[list[str]] = []
    with pg.fresh_database(kind, tmp_path) as url:
        writers = subprocess.Popen(
            [sys.executable, "-c", WRITERS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, database.ENV_VAR: url},
            text=True,
        )
        assert writers.stdout is not None
        lines = Lines(writers.stdout)
        try:
            for _ in range(KILLS):
                reported += run_and_kill(writers, lines, chance.uniform(0.0, 0.25))
        finally:
            writers.kill()
            writers.communicate(timeout=30)
        engine = database.make_engine(database.database_url(url))
        try:
            with engine.connect() as connection:
                check_reported_records_present(connection, reported)
                check_transactions_whole(connection)
                check_integrity(connection, kind)
        finally:
            engine.dispose()
    assert len([r for r in reported if r[0] == "patient"]) >= KILLS


def check_reported_records_present(connection: Connection, reported: list[list[str]]) -> None:
    patients = set(connection.scalars(select(PatientRow.id)))
    versions = dict(connection.execute(select(LesionRow.id, LesionRow.version)).all())
    for line in reported:
        if line[0] == "patient":
            assert line[1] in patients, line
        else:
            assert line[1] in versions and versions[line[1]] >= int(line[2]), line


def check_transactions_whole(connection: Connection) -> None:
    """Each call is one transaction: its rows and its audit entries commit together or not."""
    patients = set(connection.scalars(select(PatientRow.id)))
    owners = Counter(connection.scalars(select(IdentifierRow.patient_id)))
    assert owners == Counter(dict.fromkeys(patients, 1))
    entries = connection.execute(select(AuditRow.action, AuditRow.entity_type, AuditRow.entity_id))
    audited = Counter((a, t, i) for a, t, i in entries)
    lesions = dict(connection.execute(select(LesionRow.id, LesionRow.version)).all())
    expected = Counter(
        {("create", "patient", p): 1 for p in patients}
        | {("add-identifier", "patient", p): 1 for p in patients}
        | {("create", "lesion", lesion): 1 for lesion in lesions}
    )
    for lesion, version in lesions.items():
        if version > 1:
            expected[("update", "lesion", lesion)] = version - 1
    assert audited == expected


def check_integrity(connection: Connection, kind: str) -> None:
    if kind == "sqlite":
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        return
    # amcheck (contrib, shipped with Debian's postgresql-15): B-tree structure and heap tuples.
    connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
    indexes = (
        connection.execute(
            text(
                "SELECT c.oid::regclass::text FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            )
        )
        .scalars()
        .all()
    )
    assert "pk_patients" in indexes
    for index in indexes:
        connection.execute(text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index})
    for table in ("patients", "patient_identifiers", "lesions", "audit"):
        damaged = connection.execute(
            text("SELECT * FROM verify_heapam(CAST(:t AS regclass))"), {"t": table}
        ).all()
        assert damaged == [], table
    orphans = connection.execute(
        text(
            "SELECT count(*) FROM lesions l LEFT JOIN patients p ON p.id = l.patient_id "
            "WHERE p.id IS NULL"
        )
    ).scalar()
    assert orphans == 0
