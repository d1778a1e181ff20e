"""Which patients the engine must judge: a superset of the worklist, derived from the rules.

A worklist row needs a DCC suspicion of at least `moderate` or a calcinosis type other than
`none` (screening.yaml). In the engine:
- a type other than `none` needs one of the calcinosis evidence rules (confirmed, likely,
  possible) or calciphylaxis; evidence that is not itself a suspicion level is read from the
  record ("evidence" below);
- a suspicion level needs the `applies` rule (an acne history), and `moderate` or more needs a
  pillar, or `moderate_supporting` supporting features of which only those that follow from
  the acne history alone ("free", e.g. a long acne history) can be missing from the record.
  So an acne patient is a candidate only when the record also mentions a source of a pillar or
  of a supporting feature ("sources" below): a concept they name, or, for a treatment that
  failed or helped only partly, a word of non-response or of negation.

The test is deliberately loose: codes are matched without their systems and words without
negation, so it can only let too many patients through, never too few. Candidates are
patients with evidence, or with acne and a source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from calcinosis.core.knowledge import Knowledge, Rule, When
from calcinosis.core.text import tokenize

_SUSPICION_PREFIX = "suspicion:"
_CALCIPHYLAXIS_PICTURE = "calciphylaxis:clinical"
_EVIDENCE_RULES = ("confirmed", "likely", "possible", "calciphylaxis-histology")
# Derived signals of the suspicion rules, and what the record must say for each (see
# core/rules/signals.py). FREE ones follow from the acne history or the sites alone.
_FREE_PREFIXES = ("site:", "acne:")
_LESION_SOURCES = {
    "lesion:hard-or-firm": ("consistency-hard", "consistency-firm"),
    "lesion:soft": ("consistency-soft",),
}
_TREATMENT = re.compile(r"^med:[a-z0-9-]+:(failed|partial)$")
_TREATMENT_WORDS = "treatment words"  # a source: a failed or partial treatment
_NON_RESPONSE = ("no response", "partial")  # the responses that feed a suspicion feature
_GAP = "[^a-z0-9]+"
_EDGE_BEFORE = "(?:^|[^a-z0-9])"
_EDGE_AFTER = "(?:[^a-z0-9]|$)"


class NarrowingError(ValueError):
    """A rule names a derived signal this module does not know how to trace to the record."""


@dataclass(frozen=True, slots=True)
class Patterns:
    """Concepts as codes and as words. `codes_pattern` runs on a space-separated list of codes,
    upper-cased with dots removed (ICD-10-CM `L70.0`, `L700` and WHO ICD-10 look alike);
    `text_pattern` on lower-cased text. Plain regular expressions that DuckDB (RE2) and Spark
    (Java) read alike."""

    concepts: frozenset[str]
    codes: frozenset[str]
    code_prefixes: frozenset[str]
    phrases: tuple[str, ...]
    codes_pattern: str
    text_pattern: str


@dataclass(frozen=True, slots=True)
class Narrowing:
    evidence: Patterns
    acne: Patterns
    sources: Patterns


def narrowing(kb: Knowledge) -> Narrowing:
    applies: Rule = kb.suspicion["applies"]
    evidence: set[str] = set()
    for name in _EVIDENCE_RULES:
        rule: Rule = kb.classification[name]
        for signal in (*rule.when.all, *rule.when.any):
            if not signal.startswith(_SUSPICION_PREFIX):
                evidence |= _evidence_trace(kb, signal)
    acne = {s for s in (*applies.when.all, *applies.when.any) if s in _read_from_record(kb)}
    sources, words = _suspicion_sources(kb)
    return Narrowing(
        evidence=_patterns(kb, _closure(kb, evidence)),
        acne=_patterns(kb, _closure(kb, acne)),
        sources=_patterns(kb, _closure(kb, sources), words),
    )


def _evidence_trace(kb: Knowledge, signal: str) -> set[str]:
    if signal in _read_from_record(kb):
        return {signal}
    if signal == _CALCIPHYLAXIS_PICTURE:  # needs the skin picture (and a risk)
        return set(kb.classification["calciphylaxis-skin"])
    raise NarrowingError(
        f"screening cannot trace the signal {signal!r} to the record; "
        "teach calcinosis/screening/narrowing.py where it comes from"
    )


def _suspicion_sources(kb: Knowledge) -> tuple[set[str], tuple[str, ...]]:
    """Concepts (and words) one of which a suspicion of `moderate` or more needs."""
    levels = kb.suspicion["levels"]
    found: set[str] = set()
    free_supporting = 0
    for part in ("pillars", "supporting"):
        for rule in kb.suspicion[part]:
            needed = _needed(kb, rule)
            if needed is None and part == "pillars" and levels["moderate_pillars"] <= 1:
                raise NarrowingError(f"{rule.id} can hold on an acne history alone")
            if needed is None:
                free_supporting += 1
            else:
                found |= needed
    if free_supporting >= levels["moderate_supporting"]:
        raise NarrowingError("enough supporting features can hold on an acne history alone")
    words: tuple[str, ...] = ()
    if _TREATMENT_WORDS in found:
        found.discard(_TREATMENT_WORDS)
        words = _treatment_words(kb)
    return found, words


def _needed(kb: Knowledge, rule: Rule) -> set[str] | None:
    """One group of sources the rule cannot hold without; None when it needs none."""
    when: When = rule.when
    if when.any:
        traced = [_source(kb, s) for s in when.any]
        if all(t is not None for t in traced):
            return {c for t in traced if t is not None for c in t}
    for signal in when.all:
        traced_one = _source(kb, signal)
        if traced_one is not None:
            return traced_one
    return None


def _source(kb: Knowledge, signal: str) -> set[str] | None:
    if signal.startswith(_FREE_PREFIXES):
        return None
    if signal.startswith("absent:"):
        signal = signal.removeprefix("absent:")
    if signal in _read_from_record(kb):
        return {signal}
    if signal in _LESION_SOURCES:
        sources = set(_LESION_SOURCES[signal])
        if not sources <= _read_from_record(kb):  # a renamed concept must not narrow silently
            raise NarrowingError(f"{signal} is traced to concepts the knowledge no longer has")
        return sources
    if _TREATMENT.match(signal):
        return {_TREATMENT_WORDS}
    raise NarrowingError(
        f"screening cannot trace the signal {signal!r} to the record; "
        "teach calcinosis/screening/narrowing.py where it comes from"
    )


def _treatment_words(kb: Knowledge) -> tuple[str, ...]:
    """Words without which no treatment reads as failed or partial: the non-response and
    partial-response phrases of the note reader (which include the statement's "no response"
    and "partial") and its negation cues (a negated "improved" reads as no response)."""
    responses = kb.note_rules.responses.phrases_of(f"response:{r}" for r in _NON_RESPONSE)
    cues = kb.findings_matcher.cues
    negations = (" ".join(cue) for cue in (*cues.negation, *cues.negation_after))
    return (*_NON_RESPONSE, *responses, *negations)


def _read_from_record(kb: Knowledge) -> set[str]:
    """Signals the ingest sets straight from the record: value-set concepts, what a context
    turns a generic word into, what an exam or histology label means, and what is implied."""
    found = set(kb.concepts)
    found |= {s for mapping in kb.contexts.values() for s in mapping.values() if s is not None}
    found |= {str(spec["concept"]) for spec in kb.exam_labels.values() if "concept" in spec}
    found |= {s for implied in kb.implies.values() for s in implied}
    return found


def _closure(kb: Knowledge, concepts: set[str]) -> set[str]:
    """Add concepts that imply one of them and generic words a context turns into one."""
    found = set(concepts)
    while True:
        more = {c for c, implied in kb.implies.items() if found & set(implied)}
        more |= {
            generic
            for mapping in kb.contexts.values()
            for generic, specific in mapping.items()
            if specific in found
        }
        if more <= found:
            return found
        found |= more


def _patterns(kb: Knowledge, concepts: set[str], extra: Iterable[str] = ()) -> Patterns:
    codes = {_code(code) for (_, code), found in kb.codes.items() if concepts & set(found)}
    prefixes = {_code(p) for p, found in kb.icd10cm_prefixes.items() if concepts & set(found)}
    words = {p for c in concepts if c in kb.concepts for p in kb.concepts[c].synonyms}
    words |= {
        " ".join(tokenize(label))
        for label, spec in kb.exam_labels.items()
        if spec.get("concept") in concepts
    }
    words |= set(extra)
    ordered = tuple(sorted((w for w in words if w), key=lambda p: (-len(p), p)))
    return Patterns(
        concepts=frozenset(concepts),
        codes=frozenset(codes),
        code_prefixes=frozenset(prefixes),
        phrases=ordered,
        codes_pattern=_codes_pattern(codes, prefixes),
        text_pattern=_EDGE_BEFORE
        + "(?:"
        + "|".join(_phrase(p) for p in ordered)
        + ")"
        + _EDGE_AFTER,
    )


def _code(code: str) -> str:
    return code.replace(".", "").upper()


def _codes_pattern(codes: set[str], prefixes: set[str]) -> str:
    exact = [re.escape(c) for c in sorted(codes)]
    starts = [re.escape(p) + "[0-9A-Z]*" for p in sorted(prefixes)]
    if not exact and not starts:
        return "x^"  # matches nothing (no concept here has a code): nothing precedes the start
    return "(?:^| )(?:" + "|".join(exact + starts) + ")(?: |$)"


def _phrase(phrase: str) -> str:
    parts = []
    for word in phrase.split():
        stem = word.rstrip("*")
        parts.append(re.escape(stem) + ("[a-z0-9]*" if word.endswith("*") else ""))
    return _GAP.join(parts)
