"""What changed between two knowledge bases: rules, thresholds, value-set codes, citations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calcinosis.core.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # rule | threshold | code | citation | synonym | label
    key: str
    change: str  # added | removed | changed
    detail: str = ""


def diff_knowledge(old: Knowledge, new: Knowledge) -> list[Change]:
    out: list[Change] = []
    out += _diff("rule", _rules(old), _rules(new))
    out += _diff("threshold", _thresholds(old), _thresholds(new))
    out += _diff("citation", _citations(old), _citations(new))
    out += _diff("code", _codes(old), _codes(new))
    out += _diff("synonym", _synonyms(old), _synonyms(new))
    out += _diff("label", dict(old.signal_labels), dict(new.signal_labels))
    return out


def _diff(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    out = [Change(kind, k, "added") for k in sorted(set(new) - set(old))]
    out += [Change(kind, k, "removed") for k in sorted(set(old) - set(new))]
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            out.append(Change(kind, key, "changed", f"{old[key]!r} -> {new[key]!r}"))
    return out


def _rules(kb: Knowledge) -> dict[str, Any]:
    return {
        r.id: (r.summary, r.when, r.citations, sorted((k, repr(v)) for k, v in r.data.items()))
        for r in kb.rules.values()
    }


def _thresholds(kb: Knowledge) -> dict[str, Any]:
    return {t.id: (t.value, t.unit, t.citations) for t in kb.thresholds.values()}


def _citations(kb: Knowledge) -> dict[str, Any]:
    return {c.id: (c.text, c.doi, c.pmid) for c in kb.citations.values()}


def _codes(kb: Knowledge) -> dict[str, Any]:
    out: dict[str, Any] = {f"{s}|{c}": tuple(sorted(v)) for (s, c), v in kb.codes.items()}
    out.update({f"icd10cm_prefix|{p}": tuple(sorted(v)) for p, v in kb.icd10cm_prefixes.items()})
    out.update({f"loinc|{code}": a for code, a in kb.loinc_to_analyte.items()})
    return out


def _synonyms(kb: Knowledge) -> dict[str, Any]:
    return {c.id: tuple(sorted(c.synonyms)) for c in kb.concepts.values()}
