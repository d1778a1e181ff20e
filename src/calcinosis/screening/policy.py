"""The screening policy (knowledge/screening/screening.yaml): what makes a worklist row, and
the order of the rows. Validated on load like the rest of the knowledge base."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calcinosis.core.assessment import CALCINOSIS_TYPES, SUSPICION_LEVELS
from calcinosis.core.knowledge import Knowledge
from calcinosis.errors import KnowledgeError

FILE = "screening/screening.yaml"


@dataclass(frozen=True, slots=True)
class Policy:
    listed_levels: frozenset[str]
    listed_types: frozenset[str]
    type_rank: dict[str, int]
    level_rank: dict[str, int]
    deciding_findings: int
    citations: tuple[str, ...]

    def worth_a_look(self, level: str, calcinosis_type: str) -> bool:
        return level in self.listed_levels or calcinosis_type in self.listed_types

    def sort_key(self, level: str, calcinosis_type: str, patient_id: str) -> tuple[int, int, str]:
        """Most urgent type first, then the strongest suspicion, then the id (a stable order)."""
        return (self.type_rank[calcinosis_type], self.level_rank[level], patient_id)


def load_policy(kb: Knowledge) -> Policy:
    path = Path(kb.directory) / FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError(FILE, "(file)", f"cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(FILE, "(file)", "must be a mapping")
    citations = _names(data, "citations", set(kb.citations), "unknown citation")
    if not citations:
        raise KnowledgeError(FILE, "citations", "must cite at least one source")
    worklist = _section(data, "worklist")
    ranking = _section(data, "ranking")
    types, levels = set(CALCINOSIS_TYPES), set(SUSPICION_LEVELS)
    type_order = _names(ranking, "ranking.types", types, "unknown type")
    level_order = _names(ranking, "ranking.levels", levels, "unknown level")
    if set(type_order) != types or len(type_order) != len(types):
        raise KnowledgeError(FILE, "ranking.types", f"must order each of {sorted(types)} once")
    if set(level_order) != levels or len(level_order) != len(levels):
        raise KnowledgeError(FILE, "ranking.levels", f"must order each of {sorted(levels)} once")
    deciding = ranking.get("deciding_findings")
    if not isinstance(deciding, int) or deciding < 1:
        raise KnowledgeError(FILE, "ranking.deciding_findings", "must be a positive integer")
    return Policy(
        listed_levels=frozenset(_names(worklist, "worklist.levels", levels, "unknown level")),
        listed_types=frozenset(_names(worklist, "worklist.types", types, "unknown type")),
        type_rank={t: i for i, t in enumerate(type_order)},
        level_rank={v: i for i, v in enumerate(level_order)},
        deciding_findings=deciding,
        citations=citations,
    )


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise KnowledgeError(FILE, key, "must be a mapping")
    return value


def _names(data: dict[str, Any], where: str, known: set[str], problem: str) -> tuple[str, ...]:
    value = data.get(where.rpartition(".")[2])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KnowledgeError(FILE, where, "must be a list of names")
    for name in value:
        if name not in known:
            raise KnowledgeError(FILE, where, f"{problem} {name!r}")
    return tuple(value)
