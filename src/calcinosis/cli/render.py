"""Assessment -> a Rich text report for people, or deterministic JSON for programs.

The text report is built from `Text` objects, never markup, and strips terminal control
characters, so no string from a bundle can restyle or rewrite the user's terminal. JSON keeps the
model's key order (`"source"` first) and is byte-identical for the same assessment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from calcinosis.core.assessment import (
    Assessment,
    Basis,
    Classification,
    Finding,
    MissingData,
    Statement,
    Suspicion,
)
from calcinosis.errors import CalcinosisError

# C0/C1 controls (ESC starts terminal escape sequences) and the bidirectional overrides.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_INDENT = 2
_ID_CHARS = 8
_HEADING = "bold"
_DIM = "dim"
_LEVEL_STYLE = {"high": "bold red", "moderate": "bold yellow", "low": "bold green"}


def assessed_item(source: str, assessment: Assessment) -> dict[str, Any]:
    """One assessed input as the contract shows it: "source" first, then the assessment."""
    return {"source": source, **assessment.to_dict()}


def refused_item(source: str, error: CalcinosisError) -> dict[str, Any]:
    """One refused input: its source and the error's contract code and message."""
    return {"source": source, "error": {"code": error.code, "message": error.message}}


def dumps_json(items: Sequence[dict[str, Any]], *, as_array: bool) -> bytes:
    """Indented JSON with a final newline: one object, or an array when `as_array`."""
    document: Any = list(items) if as_array else items[0]
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def dumps_jsonl(items: Iterable[dict[str, Any]]) -> bytes:
    """One compact JSON object per line, in the order given."""
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def render_refusal(source: str, error: CalcinosisError) -> RenderableType:
    """The text shown in place of a report for an input that could not be assessed."""
    line = Text()
    line.append("Refused ", style="bold red")
    line.append(f"({error.code}): ", style="bold")
    line.append(_safe(error.message))
    return Trimmed(Group(Rule(Text(_safe(source)), align="left"), line, Text()))


def render_text(assessment: Assessment, source: str) -> RenderableType:
    """The full text report of one assessment, readable at 80 columns.

    Each input resource a statement rests on is listed once, numbered, under "Findings"; the
    statements point to those numbers and show their citation ids in brackets.
    """
    index = _FindingIndex(assessment)
    parts: list[RenderableType] = [Rule(Text(_safe(source)), align="left"), _header(assessment)]
    parts += _headline("DCC suspicion", assessment.dcc_suspicion, index)
    parts += _headline("Calcinosis type", assessment.calcinosis, index)
    parts += _section("Differential", [_ranked(s, index) for s in assessment.differential])
    parts += _section("Calculations", [_calculation(s, index) for s in assessment.calculations])
    parts += _section("Work-up", [_bullet(s, index) for s in assessment.workup])
    parts += _section("Management", [_management(s, index) for s in assessment.management])
    parts += _section("Follow-up", [_bullet(s, index) for s in assessment.follow_up])
    parts += _section("Warnings", [_warning(s, index) for s in assessment.warnings], "bold red")
    parts += _section("Missing data", [_missing(m) for m in assessment.missing_data])
    parts += _section("Findings", index.rows())
    parts += _section("References", [_reference(c.to_dict()) for c in assessment.citations])
    parts.append(Text())
    return Trimmed(Group(*parts))


class _FindingIndex:
    """Number every distinct finding in report order, so each is printed only once."""

    def __init__(self, assessment: Assessment) -> None:
        self.numbers: dict[Finding, int] = {}
        for _, statement in assessment.statements():
            for finding in statement.basis.findings:
                self.numbers.setdefault(finding, len(self.numbers) + 1)

    def cite(self, basis: Basis) -> str:
        """The numbered findings the basis rests on, e.g. "Findings 1-3, 7"; "" if none."""
        numbers = sorted(
            {self.numbers.setdefault(f, len(self.numbers) + 1) for f in basis.findings}
        )
        if not numbers:
            return ""
        runs: list[list[int]] = []
        for number in numbers:
            if runs and number == runs[-1][-1] + 1:
                runs[-1].append(number)
            else:
                runs.append([number])
        spans = [f"{r[0]}-{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs]
        return ("Finding " if len(numbers) == 1 else "Findings ") + ", ".join(spans)

    def rows(self) -> list[tuple[Text, RenderableType]]:
        return [
            (Text(f"{number}."), Text(f"{_safe(f.summary)} ({_short_reference(f.reference)})"))
            for f, number in self.numbers.items()
        ]


class Trimmed:
    """Render without the trailing spaces Rich pads grids and wrapped lines with."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.rstrip():
                line.pop()
            if line and not line[-1].control:
                last = line.pop()
                line.append(Segment(last.text.rstrip(), last.style))
            yield from line
            yield Segment.line()


def _header(assessment: Assessment) -> Text:
    patient = assessment.patient
    age = "age unknown" if patient.age_years is None else f"{patient.age_years} years"
    text = Text()
    text.append("Patient: ", style=_HEADING)
    text.append(f"{_safe(patient.sex)}, {age}")
    text.append("   Knowledge: ", style=_HEADING)
    text.append(_safe(assessment.knowledge_version))
    if assessment.as_of:
        text.append("   As of: ", style=_HEADING)
        text.append(_safe(assessment.as_of))
    return text


def _headline(
    title: str, statement: Suspicion | Classification, index: _FindingIndex
) -> list[RenderableType]:
    value = statement.level if isinstance(statement, Suspicion) else statement.type
    line = Text()
    line.append(f"{title}: ", style=_HEADING)
    line.append(_safe(value), style=_LEVEL_STYLE.get(value, "bold cyan"))
    body = _body(Text(_safe(statement.summary)), statement.basis, index)
    return [Text(), line, Padding(body, (0, 0, 0, _INDENT))]


def _section(
    title: str, rows: list[tuple[Text, RenderableType]], style: str = _HEADING
) -> list[RenderableType]:
    """A heading and a two-column grid: a marker that stays put, content that wraps under it."""
    if not rows:
        return []
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    for marker, content in rows:
        grid.add_row(marker, content)
    return [Text(), Text(title, style=style), Padding(grid, (0, 0, 0, _INDENT))]


def _ranked(statement: Statement, index: _FindingIndex) -> tuple[Text, RenderableType]:
    label = Text(_safe(str(statement.get("label") or statement.id)), style=_HEADING)
    summary = Text(_safe(statement.summary))
    return Text(f"{statement.get('rank')}."), _body(summary, statement.basis, index, title=label)


def _calculation(statement: Statement, index: _FindingIndex) -> tuple[Text, RenderableType]:
    title = Text(f"{_safe(statement.id)}: ", style=_HEADING)
    title.append(f"{statement.get('value')} {_safe(str(statement.get('unit') or ''))}".rstrip())
    summary = Text(_safe(statement.summary))
    return Text("-"), _body(summary, statement.basis, index, title=title)


def _management(statement: Statement, index: _FindingIndex) -> tuple[Text, RenderableType]:
    level = statement.get("evidence_level")
    after = Text(f"Evidence: {_safe(str(level))}", style="italic") if level else None
    summary = Text(_safe(statement.summary))
    return Text("-"), _body(summary, statement.basis, index, after=after)


def _warning(statement: Statement, index: _FindingIndex) -> tuple[Text, RenderableType]:
    summary = Text(_safe(statement.summary), style="yellow")
    return Text("!", style="bold red"), _body(summary, statement.basis, index)


def _bullet(statement: Statement, index: _FindingIndex) -> tuple[Text, RenderableType]:
    return Text("-"), _body(Text(_safe(statement.summary)), statement.basis, index)


def _missing(item: MissingData) -> tuple[Text, RenderableType]:
    change = Text()
    change.append("Would change: ", style="italic")
    change.append(_safe(item.would_change))
    return Text("?"), Group(Text(_safe(item.summary)), change)


def _reference(citation: dict[str, Any]) -> tuple[Text, RenderableType]:
    text = Text(_safe(citation["text"]))
    for key, prefix in (("doi", " doi:"), ("pmid", " PMID:"), ("url", " ")):
        if key in citation:
            text.append(f"{prefix}{_safe(citation[key])}", style="cyan")
    return Text(f"[{_safe(citation['id'])}]", style=_HEADING), text


def _body(
    summary: Text,
    basis: Basis,
    index: _FindingIndex,
    title: Text | None = None,
    after: Text | None = None,
) -> RenderableType:
    """A statement: optional title, summary [citation ids], then the findings it rests on."""
    lines: list[RenderableType] = [title] if title is not None else []
    if basis.citations:
        summary = summary.copy()
        summary.append(" [" + ", ".join(_safe(c) for c in basis.citations) + "]", style=_DIM)
    lines.append(summary)
    if after is not None:
        lines.append(after)
    findings = index.cite(basis)
    if findings:
        lines.append(Text(findings, style=_DIM))
    return Group(*lines)


def _short_reference(reference: str) -> str:
    """ "Observation/c3df114f-a353-..." -> "Observation/c3df114f…": enough to find it, short."""
    kind, _, ident = _safe(reference).rpartition("/")
    if len(ident) > _ID_CHARS + 4:
        ident = ident[:_ID_CHARS] + "…"
    return f"{kind}/{ident}" if kind else ident


def _safe(value: str) -> str:
    return _UNSAFE.sub("", value)
