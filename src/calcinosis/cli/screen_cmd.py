"""`calcinosis screen EXPORT_DIR`: a population's Bulk Data export -> a ranked worklist."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import calcinosis
from calcinosis.cli.options import parse_as_of
from calcinosis.errors import UnreadableError

if TYPE_CHECKING:
    from calcinosis.screening.job import Worklist

_SHOWN_ROWS = 10


class Engine(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


class _Bar:
    """Rich progress: one line per phase; a bar once the number of candidates is known.

    Shown from the first phase on, not before: until then this process runs no thread of its
    own, so the engine may fork its judging processes (a fork copies only the calling thread)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, name: str, total: int | None = None) -> None:
        self._progress.start()  # once: later calls do nothing
        if self._task is not None:  # the previous phase is over
            self._progress.update(self._task, total=1, completed=1)
        self._task = self._progress.add_task(name, total=total)

    def advance(self, done: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, done)

    def close(self) -> None:
        if self._task is not None:
            self._progress.stop()


def screen(
    export_dir: Annotated[Path, typer.Argument(help="A FHIR Bulk Data export folder (NDJSON).")],
    engine: Annotated[Engine, typer.Option(help="duckdb (one machine) or spark.")] = Engine.duckdb,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL (default local[2]); with --engine spark.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the worklist to FILE.csv, .parquet or .jsonl.")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Count ages and durations to this date (YYYY-MM-DD).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the summary as an SVG file.")] = None,
    knowledge: Annotated[Path | None, typer.Option(help="Another knowledge directory.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Judging processes (DuckDB; default: one per core).")
    ] = None,
) -> None:
    """Screen every patient of an export; list those worth a look, most urgent first."""
    from calcinosis.screening import output
    from calcinosis.screening import plot as drawing
    from calcinosis.screening.job import screen as run_screen

    day = parse_as_of(as_of)
    if out is not None:
        output.check_destination(out)
    if plot is not None and (plot.suffix != ".svg" or not plot.parent.is_dir()):
        raise UnreadableError(f"{plot}: the plot is an .svg file in an existing folder")
    if spark_master is not None and engine != Engine.spark:
        raise typer.BadParameter("only with --engine spark", param_hint="'--spark-master'")
    kb = calcinosis.load_knowledge(knowledge)
    console = Console(stderr=True, highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    bar = _Bar(Progress(*columns, console=console, transient=False))
    try:
        worklist = run_screen(
            export_dir,
            engine=engine.value,
            as_of=day,
            knowledge=kb,
            spark_master=spark_master,
            progress=bar,
            workers=workers,
        )
    finally:
        bar.close()
    if out is not None:
        output.write(worklist, out)
    if plot is not None:
        labels = {rid: rule.summary for rid, rule in kb.rules.items()}
        plot.write_text(drawing.render(worklist.summary, labels), encoding="utf-8")
    _report(Console(highlight=False), worklist, out, plot)


def _report(console: Console, worklist: Worklist, out: Path | None, plot: Path | None) -> None:
    s = worklist.summary
    console.print(
        f"[bold]{s.listed:,}[/bold] of {s.patients:,} patients listed; {s.candidates:,} judged "
        f"by the engine ({s.engine}, knowledge {s.knowledge_version}, as of {s.as_of}) "
        f"in {s.seconds:.1f} s."
    )
    if s.by_type_level:
        table = Table("calcinosis type", "high", "moderate", "low", "not-applicable", "total")
        for kind, levels in s.by_type_level.items():
            cells = [str(levels.get(x, "")) for x in ("high", "moderate", "low", "not-applicable")]
            table.add_row(kind, *cells, str(sum(levels.values())))
        console.print(table)
    if s.refused:
        refused = ", ".join(f"{code} {n}" for code, n in s.refused.items())
        console.print(
            f"[yellow]Refused by the engine[/yellow] (their records need fixing): {refused}"
        )
    if out is None:
        table = Table("rank", "patient", "suspicion", "type", "top differential", "missing data")
        for rank, row in enumerate(worklist.rows[:_SHOWN_ROWS], start=1):
            table.add_row(
                str(rank),
                row.patient_id,
                row.dcc_suspicion,
                row.calcinosis_type,
                row.top_differential,
                ", ".join(row.missing_data),
            )
        console.print(table)
        if len(worklist.rows) > _SHOWN_ROWS:
            console.print(f"... and {len(worklist.rows) - _SHOWN_ROWS:,} more: use --out FILE")
    else:
        console.print(f"Worklist: {out}")
    if plot is not None:
        console.print(f"Plot: {plot}")
