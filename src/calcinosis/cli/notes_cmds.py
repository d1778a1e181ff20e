"""`calcinosis notes extract FILE`: what the note reader finds in a clinic note, with spans.

Register in cli/main.py with `app.add_typer(notes_cmds.app, name="notes")`.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import calcinosis
from calcinosis.core.notes import NoteFinding, extract, html_to_text

app = typer.Typer(help="Read clinic notes the way the engine does.", no_args_is_help=True)


class NoteFormat(StrEnum):
    text = "text"
    json = "json"


@app.command("extract")
def extract_command(
    file: Annotated[
        Path, typer.Argument(help="A clinic note: plain text, or HTML (.html/.htm); - for stdin.")
    ],
    output: Annotated[
        NoteFormat, typer.Option("--format", help="text (readable) or json.")
    ] = NoteFormat.text,
    knowledge: Annotated[
        Path | None, typer.Option("--knowledge", help="Another knowledge directory.")
    ] = None,
) -> None:
    """Print the findings in a note: concept, status, the sentence's span and text, values."""
    try:
        raw = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    text = html_to_text(raw) if file.suffix.lower() in (".html", ".htm") else raw
    kb = calcinosis.load_knowledge(knowledge)
    found = extract(text, kb).findings
    if output == NoteFormat.json:
        typer.echo(
            json.dumps(
                {
                    "source": str(file),
                    "knowledge_version": kb.version,
                    "findings": [f.to_dict() for f in found],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not found:
        typer.echo(f"{file}: nothing the engine reads was found")
        return
    for f in found:
        typer.echo(
            f"{f.start:>5}-{f.end:<5} {f.kind:<16} {f.concept:<30} {f.status:<12} {_values(f)}"
        )
        typer.echo(f'            "{f.sentence}"')


def _values(f: NoteFinding) -> str:
    parts: list[str] = []
    if f.value is not None:
        parts.append(f"{f.value:g} {f.unit or '(no unit: not used)'}")
    if f.flag:
        parts.append(f.flag)
    if f.response:
        parts.append(f"response: {f.response}")
    if f.med_status:
        parts.append(f"{f.med_status} ({f.reason})" if f.reason else f.med_status)
    if f.duration_days is not None:
        parts.append(f"{f.duration_days:g} d")
    if f.count is not None:
        parts.append(f"count {f.count}")
    if f.count_text:
        parts.append(f.count_text)
    if f.context not in ("note", "lab"):
        parts.append(f"[{f.context}]")
    return "; ".join(parts)
