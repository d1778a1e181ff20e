"""`calcinosis registry ...`: set up, migrate, back up and restore the registry database; import
and export patients as FHIR; list who is due for follow-up.

CALCINOSIS_DATABASE_URL selects the database (default: a SQLite file in the user's data
directory). Errors are `calcinosis.errors.CalcinosisError` subclasses, which the one handler in
cli/main.py turns into a one-line message and exit status 1; bad options exit with 2.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from calcinosis.cli.options import parse_as_of, parse_date
from calcinosis.errors import CalcinosisError, InputError
from calcinosis.fhir import jsonio
from calcinosis.registry.errors import (
    ConflictError,
    DuplicateError,
    InvalidRecordError,
    NotFoundError,
    SchemaError,
)

# SQLAlchemy and the registry's modules load only when a registry command runs, so the rest of
# the command line (assess, serve) does not pay for them at start-up.
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from calcinosis.registry.due import DueEntry
    from calcinosis.registry.service import Imported, Registry

T = TypeVar("T")
EXIT_REFUSED = 1
PROGRESS_MIN_FILES = 4
# Problems of one imported file; anything else (database down, schema) stops the whole run.
_PER_FILE = (InputError, ConflictError, DuplicateError, InvalidRecordError, NotFoundError)

app = typer.Typer(
    help="The clinic registry: patients, lesions, sessions, follow-ups (SQLite or PostgreSQL; "
    "CALCINOSIS_DATABASE_URL selects the database).",
    no_args_is_help=True,
)


class DueFormat(StrEnum):
    text = "text"
    json = "json"


def actor() -> str:
    """Who acts, for the audit trail: the operating-system user of the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


@contextlib.contextmanager
def _engine(*, create: bool) -> Iterator[Engine]:
    from calcinosis.registry.database import (
        database_url,
        make_engine,
        private_directory,
        sqlite_path,
    )

    url = database_url()
    path = sqlite_path(url)
    if path is not None and create:
        private_directory(path)
    elif path is not None and not path.exists():
        raise SchemaError(f"no registry database at {path}; run `calcinosis registry init`")
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@app.command()
def init() -> None:
    """Create the registry database, or bring it up to the newest schema."""
    from calcinosis.registry import migrate
    from calcinosis.registry.database import make_private, shown, sqlite_path
    from calcinosis.registry.dberrors import translated

    with _engine(create=True) as engine, translated(shown(engine.url)):
        reached = migrate.upgrade(engine)
        if (path := sqlite_path(engine.url)) is not None:
            make_private(path)
        typer.echo(f"registry ready at {shown(engine.url)} (schema {reached})")


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Schema revision to reach.")] = "head",
) -> None:
    """Upgrade the registry's schema (default: to the newest)."""
    from calcinosis.registry import migrate
    from calcinosis.registry.database import shown
    from calcinosis.registry.dberrors import translated

    with _engine(create=False) as engine, translated(shown(engine.url)):
        reached = migrate.upgrade(engine, revision)
        typer.echo(f"registry at {shown(engine.url)}: schema {reached}")


@app.command()
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Schema revision to go back to: -1 (one step) or base.")
    ] = "-1",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Downgrade the schema; tables the older schema lacks are dropped WITH THEIR DATA."""
    if not yes:
        typer.confirm(
            f"Downgrading to {revision} drops the tables it removes and their data. Continue?",
            abort=True,
        )
    from calcinosis.registry import migrate
    from calcinosis.registry.database import shown
    from calcinosis.registry.dberrors import translated

    with _engine(create=False) as engine, translated(shown(engine.url)):
        reached = migrate.downgrade(engine, revision)
        typer.echo(f"registry at {shown(engine.url)}: schema {reached or 'base (empty)'}")


@app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="Backup file to write (replaced if present).")],
) -> None:
    """Back up the registry: a SQLite copy, or a JSON dump of a PostgreSQL registry."""
    from calcinosis.registry import backup as backups
    from calcinosis.registry.service import utc_now

    with _engine(create=False) as engine:
        done = backups.backup(engine, file, actor=actor(), now=utc_now())
    typer.echo(f"backed up to {done.path} ({done.kind}, schema {done.revision})")


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A SQLite backup or a JSON dump.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace everything in a database holding data.")
    ] = False,
) -> None:
    """Restore a backup into the registry database (refused if it holds data, unless --force)."""
    from calcinosis.registry import backup as backups
    from calcinosis.registry.database import shown
    from calcinosis.registry.service import utc_now

    with _engine(create=True) as engine:
        reached = backups.restore(engine, file, force=force, actor=actor(), now=utc_now())
        typer.echo(f"restored {file} into {shown(engine.url)} (schema {reached})")


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="FHIR Bundle files (JSON).")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Assessment date for clinical bundles. Default: today.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Import registry exports unchanged; record clinical bundles as patients (assessed).

    Exit 0: every file imported; 1: any refused (the others are still imported)."""
    from calcinosis.registry.service import Imported, Registry

    day = _parse_date(as_of, "--as-of")
    refused = False
    with Registry.open() as registry:
        for file, outcome in _with_progress(files, lambda f: _import_one(registry, f, day)):
            if isinstance(outcome, Imported):
                typer.echo(f"{file}: {_imported(outcome)}")
            else:
                refused = True
                typer.echo(f"{file}: refused: {outcome.code}: {outcome.message}", err=True)
    if refused:
        raise typer.Exit(EXIT_REFUSED)


def _import_one(registry: Registry, file: Path, day: dt.date | None) -> Imported | CalcinosisError:
    try:
        bundle = jsonio.require_object(jsonio.read_json_file(file))
        return registry.import_bundle(bundle, actor=actor(), as_of=day)
    except _PER_FILE as exc:
        return exc


def _imported(done: Imported) -> str:
    if done.how == "restored":
        return f"imported patient {done.patient_id}"
    return f"recorded {'new' if done.created else 'registered'} patient {done.patient_id}"


def _with_progress(files: list[Path], work: Callable[[Path], T]) -> Iterator[tuple[Path, T]]:
    """Each file with its outcome, under a progress bar on a terminal when there are many."""
    err = Console(stderr=True)
    if len(files) < PROGRESS_MIN_FILES or not err.is_terminal:
        for file in files:
            yield file, work(file)
        return
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("Importing", total=len(files))
        for file in files:
            yield file, work(file)
            bar.advance(task)


@app.command()
def export(
    patient: Annotated[str, typer.Option("--patient", help="Registry patient id.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="File to write. Default: standard output.", show_default=False),
    ] = None,
) -> None:
    """Export one patient as a FHIR R4 Bundle that `registry import` reads back unchanged."""
    from calcinosis.registry.service import Registry

    with Registry.open() as registry:
        bundle = registry.export_patient(patient, actor=actor())
    data = orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n"
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        message = f"cannot write {out}: {exc.strerror or exc}"
        raise typer.BadParameter(message, param_hint="'--out'") from None
    typer.echo(f"exported patient {patient} to {out}", err=True)


@app.command()
def due(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="YYYY-MM-DD", help="Day to judge. Default: today."),
    ] = None,
    output_format: Annotated[
        DueFormat, typer.Option("--format", help="text (a table) or json.")
    ] = DueFormat.text,
) -> None:
    """Who is due, overdue or lost to follow-up (reviews planned from the knowledge's
    follow-up intervals; see calcinosis/registry/due.py for the rule)."""
    from calcinosis.registry.service import Registry

    day = parse_as_of(as_of)
    with Registry.open() as registry:
        entries = registry.due(day, actor=actor())
    if output_format is DueFormat.json:
        sys.stdout.buffer.write(orjson.dumps([due_item(e) for e in entries]) + b"\n")
        return
    console = Console(highlight=False)
    if not entries:
        console.print(f"No patient is due, overdue or lost to follow-up on {day}.")
        return
    table = Table(title=f"Follow-up as of {day}")
    table.add_column("status", no_wrap=True)
    table.add_column("patient", no_wrap=True)
    table.add_column("review", overflow="fold")
    table.add_column("due by", no_wrap=True)
    table.add_column("days over", justify="right")
    table.add_column("last seen", no_wrap=True)
    with_ids = any(e.identifiers for e in entries)
    if with_ids:
        table.add_column("identifiers", overflow="fold")
    for e in entries:
        cells = [
            e.status,
            e.patient_id,
            e.review.kind or "visit",
            _iso(e.review.due_by or e.review.planned_date),
            str(e.days_overdue),
            _iso(e.last_seen),
        ]
        if with_ids:
            cells.append(", ".join(f"{i.system}|{i.value}" for i in e.identifiers))
        table.add_row(*cells)
    console.print(table)


def due_item(entry: DueEntry) -> dict[str, Any]:
    review = entry.review
    return {
        "patient_id": entry.patient_id,
        "status": entry.status,
        "review": {
            "id": review.id,
            "kind": review.kind,
            "planned_date": _iso(review.planned_date),
            "due_by": _iso(review.due_by or review.planned_date),
        },
        "days_overdue": entry.days_overdue,
        "last_seen": _iso(entry.last_seen),
        "open_reviews": entry.open_reviews,
        "identifiers": [{"system": i.system, "value": i.value} for i in entry.identifiers],
    }


def _iso(day: dt.date | None) -> str:
    return day.isoformat() if day else ""


def _parse_date(value: str | None, option: str) -> dt.date | None:
    return None if value is None else parse_date(value, option)
