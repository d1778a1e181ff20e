"""The `calcinosis` command: assess bundles from files or standard input, show the demo.

Errors are handled in one place, `main()`: a refused input is reported in its place in the output
and the run ends with exit status 1; a usage error (unknown option, bad value, unreadable or
invalid knowledge directory) ends it with 2; a bug ends it with 1 and a one-line message. A
traceback is printed only with `--verbose`, because tracebacks frighten users and can quote data.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.progress import Progress
from typer._click.exceptions import ClickException, UsageError
from typer.main import get_command

import calcinosis
from calcinosis import demo as demo_data
from calcinosis.cli import (
    knowledge_cmds,
    notes_cmds,
    registry_cmds,
    render,
    screen_cmd,
    serve_cmd,
    synth_cmd,
    users_cmds,
)
from calcinosis.cli.options import parse_as_of
from calcinosis.errors import CalcinosisError, InputError, KnowledgeError
from calcinosis.fhir import jsonio

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

STDIN = "-"
DEMO_FILE = demo_data.SEED_FILE
DEMO_AS_OF = demo_data.SEED_AS_OF
PROGRESS_MIN_INPUTS = 4


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    fhir = "fhir"


@dataclass
class RunState:
    """What the error handler needs to know about the run; passed to commands as `ctx.obj`."""

    verbose: bool = False


@dataclass(frozen=True)
class Outcome:
    """One input's result: an assessment, or the error that refused it."""

    source: str
    assessment: calcinosis.Assessment | None = None
    error: CalcinosisError | None = None


app = typer.Typer(
    name="calcinosis",
    help="Clinical decision support for calcinosis cutis, from FHIR R4 bundles.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _set_verbose(ctx: typer.Context, value: bool) -> bool:
    if value and isinstance(ctx.obj, RunState):
        ctx.obj.verbose = True
    return value


VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Show a traceback if Calcinosis fails unexpectedly.",
        callback=_set_verbose,
        is_eager=True,
    ),
]


@app.callback()
def _root(verbose: VerboseOption = False) -> None:
    """Clinical decision support for calcinosis cutis, from FHIR R4 bundles."""


@app.command()
def assess(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PATH]...",
            help="Bundle files, directories (their *.json, by name) or '-' for standard input "
            "(the default).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="text (default on a terminal), json (an object, or an array for several "
            "inputs or a directory), jsonl (one line per input) or fhir (a FHIR R4 Bundle "
            "with a RiskAssessment and a GuidanceResponse per input).",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Date to count ages and durations to. Default: today.",
            show_default=False,
        ),
    ] = None,
    knowledge_dir: Annotated[
        Path | None,
        typer.Option(
            "--knowledge",
            metavar="DIR",
            help="Knowledge directory to use instead of the shipped one.",
            exists=True,
            file_okay=False,
            dir_okay=True,
            readable=True,
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option("--max-bytes", min=1, help="Refuse inputs larger than this (bytes)."),
    ] = jsonio.DEFAULT_MAX_BYTES,
    verbose: VerboseOption = False,
) -> None:
    """Assess FHIR R4 Bundles, one patient each. Exit 0: all assessed; 1: any refused."""
    day = parse_as_of(as_of)
    knowledge = _load_knowledge(knowledge_dir)
    sources, as_array = _expand(paths or [STDIN])
    fmt = output_format or (OutputFormat.text if sys.stdout.isatty() else OutputFormat.json)
    if STDIN in sources and sys.stdin.isatty():
        _say("calcinosis: reading a bundle from standard input (end with Ctrl-D)")
    if _emit(_assess_all(sources, day, knowledge, max_bytes), fmt, as_array):
        raise typer.Exit(EXIT_REFUSED)


@app.command()
def demo() -> None:
    """Show the report for the seed case shipped with the package (demo data)."""
    assessment = calcinosis.assess_bundle(demo_data.seed_bundle(), as_of=DEMO_AS_OF)
    console = Console(highlight=False)
    console.print(
        f"Demo data: the published seed case (Palanivel & Rao 2026), as of {DEMO_AS_OF}",
        style="bold reverse",
    )
    console.print(render.render_text(assessment, DEMO_FILE))


app.command("serve")(serve_cmd.serve)
app.command("synth")(synth_cmd.synth)
app.command("screen")(screen_cmd.screen)


# --- knowledge ------------------------------------------------------------------------------
# `calcinosis knowledge list|validate|diff` (the knowledge editors' tools) belong here; they are
# added with the knowledge loader. Use `calcinosis.errors.KnowledgeError` for invalid knowledge:
# `main()` maps it to exit status 2.
knowledge_app = typer.Typer(
    help="Inspect, validate and compare knowledge directories.", no_args_is_help=True
)
app.add_typer(knowledge_app, name="knowledge")
knowledge_cmds.register(knowledge_app)
app.add_typer(registry_cmds.app, name="registry")
app.add_typer(notes_cmds.app, name="notes")
app.add_typer(users_cmds.app, name="users")


# --- helpers ---------------------------------------------------------------------------------


def _load_knowledge(directory: Path | None) -> calcinosis.Knowledge:
    try:
        return calcinosis.load_knowledge(directory)
    except OSError as exc:
        where = str(directory) if directory is not None else "shipped knowledge"
        raise KnowledgeError(where, "-", f"cannot be read ({exc.strerror or exc})") from None


def _expand(paths: Sequence[str]) -> tuple[list[str], bool]:
    """Input sources in order: a directory becomes its *.json files sorted by name.

    The second value says whether JSON output is an array: several arguments, or a directory.
    """
    sources: list[str] = []
    has_directory = False
    for given in paths:
        if given != STDIN and Path(given).is_dir():
            has_directory = True
            found = sorted(p for p in Path(given).iterdir() if p.name.endswith(".json"))
            sources.extend(str(p) for p in found)
        else:
            sources.append(given)
    if not sources:
        raise typer.BadParameter(f"no *.json files in {', '.join(paths)}", param_hint="'PATHS...'")
    return sources, has_directory or len(paths) > 1


def _assess_all(
    sources: list[str], day: dt.date, knowledge: calcinosis.Knowledge, max_bytes: int
) -> Iterator[Outcome]:
    """Outcomes in input order, with a progress bar on stderr if it is a terminal."""
    outcomes = (_assess_one(source, day, knowledge, max_bytes) for source in sources)
    err = Console(stderr=True)
    if len(sources) < PROGRESS_MIN_INPUTS or not err.is_terminal:
        return outcomes
    return _with_progress(outcomes, len(sources), err)


def _with_progress(outcomes: Iterator[Outcome], total: int, err: Console) -> Iterator[Outcome]:
    """Stream outcomes under the bar, or hold them until it is gone if stdout shares the screen."""
    hold = sys.stdout.isatty()
    held: list[Outcome] = []
    with Progress(console=err, transient=True, redirect_stdout=False, redirect_stderr=False) as bar:
        task = bar.add_task("Assessing", total=total)
        for outcome in outcomes:
            if hold:
                held.append(outcome)
            else:
                yield outcome
            bar.advance(task)
    yield from held


def _assess_one(
    source: str, day: dt.date, knowledge: calcinosis.Knowledge, max_bytes: int
) -> Outcome:
    try:
        if source == STDIN:
            value = jsonio.read_json_stream(sys.stdin.buffer, max_bytes)
        else:
            value = jsonio.read_json_file(source, max_bytes)
        bundle = jsonio.require_object(value)
        assessment = calcinosis.assess_bundle(bundle, as_of=day, knowledge=knowledge)
    except InputError as exc:
        return Outcome(source, error=exc)
    return Outcome(source, assessment=assessment)


def _emit(outcomes: Iterable[Outcome], fmt: OutputFormat, as_array: bool) -> bool:
    """Write outcomes as they come (text, jsonl) or all at the end (json); True if any refused."""
    refused = False
    console = Console(highlight=False)
    items: list[dict[str, Any]] = []
    for outcome in outcomes:
        refused = refused or outcome.error is not None
        if fmt is OutputFormat.text:
            console.print(_text(outcome))
        elif fmt is OutputFormat.jsonl:
            _write_bytes(render.dumps_jsonl([_item(outcome)]))
        elif fmt is OutputFormat.fhir:
            items.append(_fhir_item(outcome))
        else:
            items.append(_item(outcome))
    if fmt in (OutputFormat.json, OutputFormat.fhir):
        _write_bytes(render.dumps_json(items, as_array=as_array))
    return refused


def _write_bytes(data: bytes) -> None:
    """JSON goes out as UTF-8 bytes whatever the locale's encoding."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _text(outcome: Outcome) -> RenderableType:
    if outcome.assessment is not None:
        return render.render_text(outcome.assessment, outcome.source)
    assert outcome.error is not None
    return render.render_refusal(outcome.source, outcome.error)


def _item(outcome: Outcome) -> dict[str, Any]:
    if outcome.assessment is not None:
        return render.assessed_item(outcome.source, outcome.assessment)
    assert outcome.error is not None
    return render.refused_item(outcome.source, outcome.error)


def _fhir_item(outcome: Outcome) -> dict[str, Any]:
    """A FHIR Bundle (RiskAssessment + GuidanceResponse) per input; refusals as in JSON."""
    if outcome.assessment is None:
        return _item(outcome)
    from calcinosis.fhir.export import assessment_to_fhir

    patient = outcome.assessment.patient.id
    return assessment_to_fhir(outcome.assessment, subject_reference=f"Patient/{patient}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the one error handler ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status; never raises, never shows a traceback
    unless `--verbose` was given."""
    state = RunState()
    command = get_command(app)
    try:
        result = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name="calcinosis",
            standalone_mode=False,
            obj=state,
        )
    except UsageError as exc:
        exc.show(file=sys.stderr)
        return EXIT_USAGE
    except ClickException as exc:
        exc.show(file=sys.stderr)
        return exc.exit_code
    except typer.Abort:
        _say("calcinosis: aborted")
        return EXIT_REFUSED
    except KnowledgeError as exc:
        _say(f"calcinosis: invalid knowledge: {exc.message}")
        return EXIT_USAGE
    except CalcinosisError as exc:
        _say(f"calcinosis: {exc.code}: {exc.message}")
        return EXIT_REFUSED
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_REFUSED
    except Exception as exc:  # a bug: say so briefly, keep data off the screen unless asked
        if state.verbose:
            traceback.print_exc()
        _say(f"calcinosis: internal error ({type(exc).__name__}); rerun with --verbose for details")
        return EXIT_REFUSED
    return result if isinstance(result, int) else EXIT_OK


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
