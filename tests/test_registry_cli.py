"""`calcinosis registry ...` on SQLite and PostgreSQL, through the real entry point `main()`:
what each command prints, its exit status, and its errors (a message, never a traceback)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import pg
from calcinosis.cli.main import main
from calcinosis.registry import database
from calcinosis.registry.service import Registry

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/dev-vignettes/bundles/dev-seed-palanivel-2026.json"
)
D = dt.date.fromisoformat


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)


def cli(*args: str | Path, stdin: str | None = None) -> Run:
    with CliRunner().isolation(input=stdin) as (out, err, _):
        code = main(["registry", *map(str, args)])
        sys.stdout.flush()
        sys.stderr.flush()
        run = Run(code, out.getvalue().decode(), err.getvalue().decode())
    assert "Traceback" not in run.out + run.err
    return run


@pytest.fixture(params=pg.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty, uninitialised database, selected through CALCINOSIS_DATABASE_URL."""
    with pg.fresh_database(kind, tmp_path, initialised=False) as made:
        monkeypatch.setenv(database.ENV_VAR, made)
        yield made


def treat(url: str, patient_id: str) -> None:
    """Two sessions, a plan and the 3-month review (no CLI command records these)."""
    with Registry.open(url) as registry:
        for day in ("2026-01-01", "2026-02-12"):
            registry.record_procedure(
                patient_id, performed_on=D(day), technique="rf-assisted-extraction", actor="dr"
            )
        registry.schedule(registry.plan(patient_id, actor="dr"), actor="dr")
        [review] = [
            r
            for r in registry.patient_file(patient_id, actor="dr").follow_ups
            if r.kind == "follow-up.recurrence-3-months"
        ]
        registry.record_follow_up(
            patient_id, done_date=D("2026-05-12"), recurrence=False, review=review, actor="dr"
        )


def test_init_import_due_and_export_then_import_elsewhere(
    url: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = database.shown(database.database_url(url))
    assert cli("init") == Run(0, f"registry ready at {shown} (schema 0001)\n", "")
    imported = cli("import", SEED, "--as-of", "2026-01-01")
    assert imported.code == 0, imported.err
    prefix = f"{SEED}: recorded new patient "
    assert imported.out.startswith(prefix)
    patient_id = imported.out.removeprefix(prefix).strip()
    treat(url, patient_id)

    due = cli("due", "--as-of", "2027-03-12", "--format", "json")
    assert due.code == 0
    assert due.json() == [
        {
            "patient_id": patient_id,
            "status": "lost-to-follow-up",
            "review": {
                "id": due.json()[0]["review"]["id"],
                "kind": "follow-up.long-term",
                "planned_date": "2026-08-12",
                "due_by": "2027-02-12",
            },
            "days_overdue": 28,
            "last_seen": "2026-05-12",
            "open_reviews": 1,
            "identifiers": [],
        }
    ]
    monkeypatch.setenv("COLUMNS", "140")
    table = cli("due", "--as-of", "2027-03-12").out.splitlines()
    assert table[0].strip() == "Follow-up as of 2027-03-12"
    row = [cell.strip() for cell in table[4].split("│")[1:-1]]
    assert row == [
        "lost-to-follow-up",
        patient_id,
        "follow-up.long-term",
        "2027-02-12",
        "28",
        "2026-05-12",
    ]
    assert cli("due", "--as-of", "2026-07-01").out == (
        "No patient is due, overdue or lost to follow-up on 2026-07-01.\n"
    )

    out = tmp_path / "patient.json"
    exported = cli("export", "--patient", patient_id, "--out", out)
    assert (exported.code, exported.err) == (0, f"exported patient {patient_id} to {out}\n")
    on_stdout = cli("export", "--patient", patient_id)
    assert without_stamp(on_stdout.json()) == without_stamp(orjson.loads(out.read_bytes()))

    with pg.fresh_database(kind, tmp_path, initialised=False) as elsewhere:
        monkeypatch.setenv(database.ENV_VAR, elsewhere)
        assert cli("init").code == 0
        assert cli("import", out) == Run(0, f"{out}: imported patient {patient_id}\n", "")
        again = cli("due", "--as-of", "2027-03-12", "--format", "json")
        assert again.json() == due.json()


def without_stamp(bundle: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bundle.items() if k not in ("id", "timestamp")}


def test_import_reports_each_refused_file_and_still_imports_the_others(
    url: str, tmp_path: Path
) -> None:
    cli("init")
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "entry": [')
    nobody = tmp_path / "nobody.json"
    nobody.write_text('{"resourceType": "Bundle", "entry": []}')
    run = cli("import", broken, SEED, nobody, tmp_path / "missing.json", "--as-of", "2026-01-01")
    assert run.code == 1
    assert run.out.startswith(f"{SEED}: recorded new patient ")
    lines = run.err.splitlines()
    assert lines[0].startswith(f"{broken}: refused: invalid-json: not valid JSON")
    missing = tmp_path / "missing.json"
    assert lines[1:] == [
        f"{nobody}: refused: no-patient: the Bundle holds no Patient resource",
        f"{missing}: refused: unreadable: {missing}: no such file",
    ]


def test_commands_on_an_uninitialised_database_name_the_fix(url: str) -> None:
    for command in (["due"], ["export", "--patient", "x"], ["import", SEED]):
        run = cli(*command)
        assert run.code == 1
        assert run.err.startswith("calcinosis: schema-not-ready: ")
        assert "; run `calcinosis registry init`" in run.err


def test_usage_errors_exit_2_and_registry_errors_exit_1(url: str) -> None:
    cli("init")
    bad_date = cli("due", "--as-of", "2027-02-30")
    assert bad_date.code == 2
    assert "'2027-02-30' is not a date in the form YYYY-MM-DD" in bad_date.err
    assert cli("due", "--format", "xml").code == 2
    unknown = cli("export", "--patient", "6f1c0e47-4b58-4c55-9f0f-3d0e5d2a8c11")
    assert unknown == Run(
        1,
        "",
        "calcinosis: not-found: no patient 6f1c0e47-4b58-4c55-9f0f-3d0e5d2a8c11 in the registry\n",
    )


def test_backup_and_restore_with_and_without_force(url: str, tmp_path: Path) -> None:
    cli("init")
    cli("import", SEED, "--as-of", "2026-01-01")
    file = tmp_path / "registry.backup"
    backup = cli("backup", file)
    assert backup.code == 0 and backup.out.startswith(f"backed up to {file} (")
    refused = cli("restore", file)
    assert refused.code == 1
    assert refused.err.startswith("calcinosis: database-not-empty: ")
    assert refused.err.endswith("pass --force to replace everything in it\n")
    forced = cli("restore", file, "--force")
    assert forced.code == 0 and forced.out.startswith(f"restored {file} into ")
    assert len(cli("due", "--format", "json").json()) == 0


def test_downgrade_asks_first_and_upgrade_brings_the_schema_back(url: str) -> None:
    cli("init")
    declined = cli("downgrade", stdin="n\n")
    assert declined.code == 1 and "drops the tables it removes and their data" in declined.out
    assert cli("due").code == 0
    shown = database.shown(database.database_url(url))
    assert cli("downgrade", "--yes").out == f"registry at {shown}: schema base (empty)\n"
    assert cli("due").code == 1
    assert cli("upgrade") == Run(0, f"registry at {shown}: schema 0001\n", "")
    assert cli("due").code == 0


def test_a_bad_or_unreachable_database_is_reported_without_its_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(database.ENV_VAR, "mysql://clinic:s3cret@db.example/registry")
    refused = "database 'mysql' is not supported; use SQLite or PostgreSQL"
    assert cli("due") == Run(1, "", f"calcinosis: bad-database-url: {refused}\n")
    nowhere = f"postgresql+psycopg://clinic:s3cret@/registry?host={tmp_path}&port=5432"
    monkeypatch.setenv(database.ENV_VAR, nowhere)
    run = cli("due")
    assert run.code == 1
    assert run.err.startswith("calcinosis: database-unavailable: the registry database ")
    assert "clinic:***@" in run.err and "s3cret" not in run.err
