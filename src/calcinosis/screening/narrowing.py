"""Which patients the engine must judge: a superset of the worklist, derived from the rules.

A worklist row needs a DCC suspicion of at least `moderate` or a calcinosis type other than
`none` (screening.yaml). In the engine:
- a type other than `none` needs one of the calcinosis evidence rules (confirmed, likely,
  possible) or calciphylaxis; evidence that is not itself a suspicion level is read from the
  record ("evidence" below);
- a suspicion level needs the `applies` rule (an acne history), and `moderate` needs
  `moderate_pillars` pillars or `moderate_supporting` supporting features. Each pillar and
  supporting feature is traced to what the record must mention for it to hold: groups of
  concepts, all of which it needs. A failed or partly helpful treatment needs the drug and a
  word of non-response or of negation in one resource (a statement and its note, or one clinic
  note), as the ingest reads them. Features that follow from the acne history or the sites
  alone ("free", e.g. a long acne history) are counted as held.

The test is deliberately loose: codes are matched without their systems, words without
negation, and the terms of a feature anywhere in the record, so it can only let too many
patients through, never too few. Candidates are patients with evidence, or with acne and
enough pillars or supporting features whose terms all appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from calcinosis.core.knowledge import Knowledge, Rule, When
from calcinosis.core.rules.signals import LESION_CONSISTENCY, NO_RESPONSE, PARTIAL
from calcinosis.core.text import tokenize
from calcinosis.fhir.ingest import CONSISTENCY_OF, ORAL_READ_AS_TOPICAL, done_by_label

_SUSPICION_PREFIX = "suspicion:"
_CALCIPHYLAXIS_PICTURE = "calciphylaxis:clinical"
_EVIDENCE_RULES = ("confirmed", "likely", "possible", "calciphylaxis-histology")
# Derived signals (core/rules/signals.py) that follow from the acne history or the sites alone
_FREE_PREFIXES = ("site:", "acne:")
# Held by durations and dates as much as by words: left out of a rule's `all` (dropping a
# condition that must also hold only loosens the test).
_NOT_TRACED = ("lesion:persistent",)
_TREATMENT = re.compile(r"^med:([a-z0-9-]+):(failed|partial)$")
_TREATMENT_WORDS = "treatment words"  # a group: words of non-response or negation
_NON_RESPONSE = (NO_RESPONSE, PARTIAL)  # the responses that feed a suspicion feature
_GAP = "[^a-z0-9]+"
_EDGE_BEFORE = "(?:^|[^a-z0-9])"
_EDGE_AFTER = "(?:[^a-z0-9]|$)"

# What a rule needs from the record: terms, all of them; a term is groups of concepts that
# must all appear in one resource (a concept of each group).
Term = tuple[frozenset[str], ...]
Need = tuple[Term, ...]


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
    """A patient is a candidate with `evidence`, or with `acne` and either `pillars_needed` of
    the pillars or `supporting_needed` of the supporting features. A feature is the indexes of
    the `terms` it needs, all of them; a term holds when one resource matches each of its
    `groups` (indexes into `groups`). `lab_words` are the words of the lab analytes' names,
    which a raw-text test does best to avoid: lab results are most of an export.
    `yes_no_labels` are exam labels asked as a question (`valueBoolean`): an Observation with
    one tells only its answer, so it counts for nothing unless the answer is yes."""

    evidence: Patterns
    acne: Patterns
    groups: tuple[Patterns, ...]
    terms: tuple[tuple[int, ...], ...]
    pillars: tuple[tuple[int, ...], ...]
    pillars_needed: int
    supporting: tuple[tuple[int, ...], ...]
    supporting_needed: int
    lab_words: frozenset[str]
    yes_no_labels: frozenset[str]

    @property
    def patterns(self) -> tuple[Patterns, ...]:
        return (self.evidence, self.acne, *self.groups)


def narrowing(kb: Knowledge) -> Narrowing:
    applies: Rule = kb.suspicion["applies"]
    evidence: set[str] = set()
    for name in _EVIDENCE_RULES:
        rule: Rule = kb.classification[name]
        for signal in (*rule.when.all, *rule.when.any):
            if not signal.startswith(_SUSPICION_PREFIX):
                evidence |= _evidence_trace(kb, signal)
    acne = {s for s in (*applies.when.all, *applies.when.any) if s in _read_from_record(kb)}
    levels = kb.suspicion["levels"]
    pillars, pillars_needed = _features(kb, "pillars", levels["moderate_pillars"])
    supporting, supporting_needed = _features(kb, "supporting", levels["moderate_supporting"])
    terms = list(dict.fromkeys(t for need in (*pillars, *supporting) for t in need))
    groups = list(dict.fromkeys(g for term in terms for g in term))
    patterns = (
        _patterns(kb, _closure(kb, evidence)),
        _patterns(kb, _closure(kb, acne)),
        *(_group_patterns(kb, g) for g in groups),
    )
    traced = frozenset().union(*(p.concepts for p in patterns))
    return Narrowing(
        evidence=patterns[0],
        acne=patterns[1],
        groups=patterns[2:],
        terms=tuple(tuple(groups.index(g) for g in term) for term in terms),
        pillars=tuple(tuple(terms.index(t) for t in need) for need in pillars),
        pillars_needed=pillars_needed,
        supporting=tuple(tuple(terms.index(t) for t in need) for need in supporting),
        supporting_needed=supporting_needed,
        lab_words=frozenset(w for a in kb.analytes.values() for w in tokenize(a.label)),
        yes_no_labels=_yes_no_labels(kb, traced),
    )


def _yes_no_labels(kb: Knowledge, traced: frozenset[str]) -> frozenset[str]:
    """The exam labels whose Observation the ingest reads as its concept, present only when
    the answer is yes (fhir/ingest.py), and otherwise as nothing the narrowing traces (a
    label whose "histology done" is traced counts whatever the answer)."""
    return frozenset(
        label
        for label, spec in kb.exam_labels.items()
        if spec.get("field") == "boolean" and not traced & set(done_by_label(spec))
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


def _features(kb: Knowledge, part: str, moderate: int) -> tuple[list[Need], int]:
    """What each rule of `part` needs from the record, and how many of those rules must be
    found besides the ones that hold on an acne history alone."""
    needs: list[Need] = []
    for rule in kb.suspicion[part]:
        need = _need(kb, rule)
        if need:
            needs.append(need)
    still_needed = moderate - (len(kb.suspicion[part]) - len(needs))
    if still_needed <= 0:
        what = "pillars" if part == "pillars" else "supporting features"
        raise NarrowingError(f"enough {what} can hold on an acne history alone")
    return needs, still_needed


def _need(kb: Knowledge, rule: Rule) -> Need:
    """The terms the rule cannot hold without (none when it can hold on acne alone)."""
    when: When = rule.when
    terms: list[Term] = []
    for signal in when.all:
        if signal not in _NOT_TRACED:
            terms.extend(_trace(kb, signal))
    if when.any:
        options = [_trace(kb, s) for s in when.any]
        if all(options):
            terms.extend(_either(options))
    return tuple(dict.fromkeys(terms))


def _either(options: list[Need]) -> Need:
    """A loosening of "one of these needs": group by group when they have one shape (one drug
    or another, with the treatment words), else any concept of their first groups."""
    shapes = {tuple(len(term) for term in option) for option in options}
    if len(shapes) == 1:
        return tuple(
            tuple(frozenset().union(*groups) for groups in zip(*terms, strict=True))
            for terms in zip(*options, strict=True)
        )
    return ((frozenset().union(*(option[0][0] for option in options)),),)


def _trace(kb: Knowledge, signal: str) -> Need:
    if signal.startswith(_FREE_PREFIXES):
        return ()
    signal = signal.removeprefix("absent:")
    if signal in _read_from_record(kb):
        return ((frozenset({signal}),),)
    if signal in LESION_CONSISTENCY:  # the concepts that record those consistencies
        kinds = LESION_CONSISTENCY[signal]
        sources = frozenset(c for c, kind in CONSISTENCY_OF.items() if kind in kinds)
        if not sources <= _read_from_record(kb):  # a renamed concept must not narrow silently
            raise NarrowingError(f"{signal} is traced to concepts the knowledge no longer has")
        return ((sources,),)
    treatment = _TREATMENT.match(signal)
    if treatment and treatment.group(1) in kb.concepts:
        # the ingest reads a response where it reads the drug: in the statement or request
        # itself, or in the note that names it (fhir/ingest.py, core/notes.py)
        drug = frozenset({treatment.group(1), *_read_as(treatment.group(1))})
        return ((drug, frozenset({_TREATMENT_WORDS})),)
    raise NarrowingError(
        f"screening cannot trace the signal {signal!r} to the record; "
        "teach calcinosis/screening/narrowing.py where it comes from"
    )


def _read_as(drug: str) -> tuple[str, ...]:
    """The drugs whose words the ingest may read as `drug`: an oral antibiotic with a topical
    cue is read as a topical treatment."""
    oral, topical = ORAL_READ_AS_TOPICAL
    return (oral,) if drug == topical else ()


def _group_patterns(kb: Knowledge, group: frozenset[str]) -> Patterns:
    if group == {_TREATMENT_WORDS}:
        return _patterns(kb, set(), _treatment_words(kb))
    return _patterns(kb, _closure(kb, set(group)))


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
