"""What the two screening engines share: the views they compile, what they report, progress."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from calcinosis.core.knowledge import Knowledge
from calcinosis.errors import KnowledgeError
from calcinosis.screening.judge import Verdict
from calcinosis.screening.policy import Policy
from calcinosis.screening.sof.compiler import CompiledView, compile_view
from calcinosis.screening.sof.errors import ViewDefinitionError
from calcinosis.screening.sof.validate import parse_view

VIEWS_DIR = "screening/views"
KEY_COLUMN = "patient"  # every screening view's patient key, which the narrowing groups by


class Progress(Protocol):
    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, done: int) -> None: ...


class Quiet:
    """Progress for callers that want none."""

    def phase(self, name: str, total: int | None = None) -> None:
        return None

    def advance(self, done: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Job:
    """One screening run's fixed inputs, handed to an engine."""

    as_of: dt.date
    knowledge: Knowledge
    policy: Policy

    @property
    def knowledge_dir(self) -> str:
        return self.knowledge.directory


@dataclass(frozen=True, slots=True)
class Judged:
    """What an engine returns: every candidate's verdict and the size of the population."""

    patients: int
    verdicts: list[Verdict]


def load_views(kb: Knowledge) -> dict[str, dict[str, Any]]:
    """The ViewDefinitions of knowledge/screening/views, by the resource type they read."""
    folder = Path(kb.directory) / VIEWS_DIR
    views: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        where = f"{VIEWS_DIR}/{path.name}"
        try:
            view = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KnowledgeError(where, "(file)", f"cannot be read: {exc}") from exc
        kind = view.get("resource") if isinstance(view, dict) else None
        if not isinstance(kind, str) or path.stem != kind:
            raise KnowledgeError(where, "resource", "must name the resource type of the file")
        try:
            parse_view(view)
        except ViewDefinitionError as exc:
            raise KnowledgeError(where, "(view)", str(exc)) from exc
        views[kind] = view
    if "Patient" not in views:
        raise KnowledgeError(VIEWS_DIR, "Patient.json", "missing")
    return views


def compile_facts(
    views: Mapping[str, dict[str, Any]], sources: Mapping[str, str], dialect: str
) -> dict[str, CompiledView]:
    """Each screening view (`load_views`) compiled over its type's source relation, by
    resource type (types without a source are left out)."""
    return {
        rtype: compile_view(view, dialect, sources[rtype])
        for rtype, view in views.items()
        if rtype in sources
    }


def narrowing_members(views: Mapping[str, dict[str, Any]]) -> dict[str, tuple[str, ...] | None]:
    """Per resource type, the top-level members that its view's (`load_views`) columns other
    than the patient key read (None: the whole resource). A row's codes and words come from
    these alone, so a test of the text that could flag it need read no more (not the patient's
    reference)."""
    tested: dict[str, tuple[str, ...] | None] = {}
    for rtype, view in views.items():
        try:
            tested[rtype] = compile_view(_without_column(view, KEY_COLUMN), "duckdb", "s").members
        except ViewDefinitionError:  # the key alone (the patients' view): no codes or words
            tested[rtype] = ()
    return tested


def _without_column(node: Any, name: str) -> Any:
    """A copy of a ViewDefinition (or part of one) without the column `name`."""
    if isinstance(node, list):
        return [_without_column(item, name) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: [c for c in value if c.get("name") != name]
        if key == "column"
        else _without_column(value, name)
        for key, value in node.items()
    }


def define_facts(
    compiled: Mapping[str, CompiledView], define: Callable[[str, str], None]
) -> dict[str, list[str]]:
    """Define each compiled view as `facts_<Type>` with `define(name, sql)`; return the column
    names of every facts relation the narrowing reads (all but the patients')."""
    facts: dict[str, list[str]] = {}
    for rtype, view in compiled.items():
        define(f"facts_{rtype}", view.sql)
        if rtype != "Patient":
            facts[f"facts_{rtype}"] = [name for name, _ in view.columns]
    return facts
