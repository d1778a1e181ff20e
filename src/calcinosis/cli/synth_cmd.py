"""`calcinosis synth`: write a synthetic FHIR R4 Bulk Data export with a planted truth.

Refusals (bad --patients, --as-of or --shard-size, a non-empty --out without --force) are one
line on standard error and exit status 2; nothing is written then. A failure while writing
(disk full, permissions) is one line and exit status 1.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from calcinosis.synth import Options, Summary, SynthError, default_workers, generate, parse_date

EXIT_REFUSED = 2
EXIT_FAILED = 1


def synth(
    patients: Annotated[
        int, typer.Option("--patients", metavar="N", help="Number of patients to write.")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Directory for the export (new or empty)."),
    ],
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Random seed.")] = 0,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Reference date every date is counted back from. Default: today.",
            show_default=False,
        ),
    ] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Write .ndjson.gz files.")] = False,
    shard_size: Annotated[
        int, typer.Option("--shard-size", metavar="K", help="Patients per shard file.")
    ] = 250_000,
    mix: Annotated[
        str,
        typer.Option(
            "--mix",
            help="population (realistic rates) or enriched (every planted profile common).",
        ),
    ] = "population",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="W",
            help="Worker processes. Default: one per CPU. The output does not depend on it.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier export in a non-empty DIR.")
    ] = False,
) -> None:
    """Write a deterministic synthetic population as FHIR R4 Bulk Data NDJSON.

    Writes <ResourceType>.<shard>.ndjson[.gz], truth.csv (the planted truth) and synth.json.
    Same N, seed, --as-of and --mix give byte-identical files.
    """
    err = Console(stderr=True, highlight=False)
    try:
        options = Options(
            out=out,
            patients=patients,
            as_of=parse_date(as_of) if as_of is not None else dt.date.today(),
            seed=seed,
            gzip=gzip,
            shard_size=shard_size,
            mix=mix,
            workers=workers if workers is not None else default_workers(),
            force=force,
        )
        options.check()
    except SynthError as exc:
        _fail(str(exc), EXIT_REFUSED)
    started = time.perf_counter()
    try:
        summary = _with_progress(options, err)
    except SynthError as exc:
        _fail(str(exc), EXIT_REFUSED)
    except OSError as exc:
        _fail(f"cannot write to {out}: {exc.strerror or exc}", EXIT_FAILED)
    _report(summary, time.perf_counter() - started)


def _fail(message: str, status: int) -> NoReturn:
    """One line on standard error, never wrapped, then the exit status."""
    typer.echo(f"calcinosis synth: {message}", err=True)
    raise typer.Exit(status)


def _with_progress(options: Options, err: Console) -> Summary:
    if not err.is_terminal:
        return generate(options)
    columns = (
        TextColumn("Writing patients"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("synth", total=options.patients)
        return generate(options, on_progress=lambda n: bar.advance(task, n))


def _report(s: Summary, seconds: float) -> None:
    console = Console(highlight=False, soft_wrap=True)
    o = s.options
    rate = o.patients / seconds if seconds > 0 else 0.0
    total = sum(s.resources.values())
    console.print(
        f"Wrote {o.patients:,} synthetic patients to {o.out} in {seconds:.1f} s "
        f"({rate:,.0f} patients/s)",
        markup=False,
    )
    console.print(
        f"  {total:,} resources in {len(s.files)} files ({s.bytes_written / 1e6:,.1f} MB), "
        f"seed {o.seed}, as of {o.as_of.isoformat()}, mix {o.mix}",
        markup=False,
    )
    share = 100 * s.worth_a_look / o.patients
    console.print(
        f"  worth a look: {s.worth_a_look:,} patients ({share:.2f}%); the planted truth is in "
        f"{o.out / 'truth.csv'}, counts per profile in {o.out / 'synth.json'}",
        markup=False,
    )
