"""Orderable tests for work-up items (knowledge/orders.yaml), validated against the knowledge.

A work-up item maps to the LOINC codes a clinician can order for it. Every code must pass the
LOINC check digit and be one the knowledge already lists for an analyte (analytes.yaml), so an
invented or mistyped code cannot reach an order; every item id must be a work-up rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calcinosis.core.codes import loinc_is_valid
from calcinosis.core.knowledge import Knowledge
from calcinosis.errors import KnowledgeError

FILE = "orders.yaml"


@dataclass(frozen=True, slots=True)
class Orderable:
    loinc: str
    display: str


@dataclass(frozen=True)
class Orders:
    by_workup: Mapping[str, tuple[Orderable, ...]]
    citations: tuple[str, ...]

    def for_workup(self, workup_id: str) -> tuple[Orderable, ...]:
        return self.by_workup.get(workup_id, ())


def load_orders(kb: Knowledge, path: Path | None = None) -> Orders:
    """orders.yaml from the knowledge directory (or `path`). Raises KnowledgeError."""
    source = path or Path(kb.directory) / FILE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(FILE, "(file)", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(FILE, "(file)", f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise KnowledgeError(FILE, "(file)", "must hold a mapping at the top level")
    unknown = set(data) - {"citations", "orders"}
    if unknown:
        raise KnowledgeError(FILE, "(file)", f"unknown keys {sorted(unknown)}")
    citations = _citations(kb, data.get("citations"))
    items = data.get("orders")
    if not isinstance(items, dict) or not items:
        raise KnowledgeError(FILE, "orders", "must be a non-empty mapping")
    workup_ids = {rule.id for rule in kb.workup}
    by_workup: dict[str, tuple[Orderable, ...]] = {}
    for workup_id, entries in items.items():
        where = f"orders.{workup_id}"
        if workup_id not in workup_ids:
            raise KnowledgeError(FILE, where, "not a work-up item id in rules/workup.yaml")
        if not isinstance(entries, list) or not entries:
            raise KnowledgeError(FILE, where, "must be a non-empty list of {loinc, display}")
        by_workup[str(workup_id)] = tuple(
            _orderable(kb, f"{where}[{i}]", entry) for i, entry in enumerate(entries)
        )
    return Orders(by_workup=by_workup, citations=citations)


def _orderable(kb: Knowledge, where: str, entry: Any) -> Orderable:
    if not isinstance(entry, Mapping) or set(entry) != {"loinc", "display"}:
        raise KnowledgeError(FILE, where, "must be a mapping with exactly loinc and display")
    code, display = entry["loinc"], entry["display"]
    if not isinstance(code, str) or not loinc_is_valid(code):
        raise KnowledgeError(FILE, f"{where}.loinc", f"bad LOINC check digit {code!r}")
    if code not in kb.loinc_to_analyte:
        raise KnowledgeError(
            FILE, f"{where}.loinc", f"{code} is not a LOINC code listed in analytes.yaml"
        )
    if not isinstance(display, str) or not display.strip():
        raise KnowledgeError(FILE, f"{where}.display", "must be a non-empty string")
    return Orderable(loinc=code, display=display)


def _citations(kb: Knowledge, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise KnowledgeError(FILE, "citations", "must be a non-empty list of citation ids")
    for cid in value:
        if cid not in kb.citations:
            raise KnowledgeError(FILE, "citations", f"unknown citation {cid!r}")
    return tuple(value)
