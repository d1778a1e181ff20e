"""The SQL narrowing of `calcinosis screen`: derived from the rules, and never narrower than
what the engine reads (text and codes alike)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import calcinosis
from calcinosis.core.knowledge import Knowledge, Rule, When
from calcinosis.screening.narrowing import NarrowingError, narrowing

KB = calcinosis.load_knowledge()
N = narrowing(KB)
EVIDENCE = re.compile(N.evidence.text_pattern)
ACNE = re.compile(N.acne.text_pattern)
SOURCE_CONCEPTS = frozenset().union(*(g.concepts for g in N.groups))
GROUPS = [(g, re.compile(g.text_pattern)) for g in N.groups]


class _AnyGroup:
    """Matches what the regular expression of some feature group matches."""

    def search(self, text: str) -> bool:
        return any(regex.search(text) for _, regex in GROUPS)


SOURCES = _AnyGroup()


def test_evidence_is_what_a_calcinosis_type_needs() -> None:
    for concept in ("chalky-material", "histology-calcium", "imaging-calcification"):
        assert concept in N.evidence.concepts
    assert {"retiform-purpura", "necrosis"} <= N.evidence.concepts  # the calciphylaxis picture
    assert "calcified" in N.evidence.concepts  # a context turns it into chalky material
    # risk factors alone list no one: they matter once calcinosis is evident
    for concept in ("ckd", "dialysis", "systemic-sclerosis", "acne"):
        assert concept not in N.evidence.concepts


def test_acne_gate_and_its_sources_follow_the_suspicion_rules() -> None:
    assert {"acne", "acne-conglobata", "acne-excoriee"} <= N.acne.concepts
    # pillars: hard or firm papules; supporting: stretching, no opening, colour, no pain ...
    for concept in ("consistency-hard", "consistency-firm", "visible-on-stretching", "pain"):
        assert concept in SOURCE_CONCEPTS
    assert "comedonal-opening" in SOURCE_CONCEPTS  # read when it is absent
    assert "consistency-soft" not in SOURCE_CONCEPTS  # soft papules only lower suspicion


def test_each_feature_needs_all_its_terms() -> None:
    def concepts(feature: tuple[int, ...]) -> list[list[frozenset[str]]]:
        return [[N.groups[g].concepts for g in N.terms[t]] for t in feature]

    # a failed isotretinoin course needs the drug and a word of non-response in one resource
    assert [[frozenset({"isotretinoin"}), frozenset()]] in [concepts(p) for p in N.pillars]
    words = next(N.groups[g] for t in N.pillars[1] for g in N.terms[t] if not N.groups[g].concepts)
    assert {"no response", "partial", "not"} <= set(words.phrases)
    # an oral antibiotic with a topical cue is read as a topical treatment (fhir/ingest.py)
    drugs = [c for feature in N.supporting for term in concepts(feature) for c in term]
    assert any({"topical-acne-treatment", "oral-antibiotic"} <= c for c in drugs)
    # `moderate` needs 1 pillar or 4 supporting features, of which a long acne history is
    # free: 3 must be found in the record
    assert (N.pillars_needed, N.supporting_needed) == (1, 3)
    assert len(N.supporting) == len(KB.suspicion["supporting"]) - 1


def test_codes_are_matched_without_dots_or_system() -> None:
    assert "L942" in N.evidence.codes  # calcinosis cutis
    assert {"L700", "88616000"} <= N.acne.codes  # acne vulgaris, ICD-10-CM and SNOMED CT
    assert re.search(N.acne.codes_pattern, "I10 L700")
    assert not re.search(N.acne.codes_pattern, "L7000 E119 N184")  # no partial codes
    assert not re.search(N.evidence.codes_pattern, "")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("hard, chalky material extruded on extraction", EVIDENCE),
        ("calcinosis-cutis suspected", EVIDENCE),
        ("von kossa: positive", EVIDENCE),
        ("retiform purpura over the thighs", EVIDENCE),
        ("hard chalky or calcified material extracted or extruded from lesions", EVIDENCE),
        ("multiple closed comedones on both cheeks", ACNE),
        ("treatment response: no response. when taken: 2019.", SOURCES),
        ("treatment response: partial. helped only for a while.", SOURCES),
        ("the hard papules did not change", SOURCES),
        ("skin lesion consistency on palpation: firm", SOURCES),
    ],
)
def test_words_that_matter_match(text: str, pattern: re.Pattern[str] | _AnyGroup) -> None:
    assert pattern.search(text)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("hardly any change", EVIDENCE),
        ("essential hypertension", EVIDENCE),
        ("calcium 2.4 mmol/l", EVIDENCE),
        ("comedonal acne", EVIDENCE),
        ("treatment response: responded. the comedones cleared.", SOURCES),
        ("soft comedones on the forehead", SOURCES),
    ],
)
def test_ordinary_words_do_not(text: str, pattern: re.Pattern[str] | _AnyGroup) -> None:
    assert not pattern.search(text)


def _with(kb: Knowledge, part: str, name: str, rule: Rule) -> Knowledge:
    section = dict(getattr(kb, part))
    section[name] = rule
    return dataclasses.replace(kb, **{part: section})


def test_an_unknown_derived_signal_is_refused_rather_than_ignored() -> None:
    likely: Rule = KB.classification["likely"]
    changed = dataclasses.replace(likely, when=When(any=("lesion:made-up",)))
    with pytest.raises(NarrowingError, match="lesion:made-up"):
        narrowing(_with(KB, "classification", "likely", changed))
    pillars = list(KB.suspicion["pillars"])
    pillars[0] = dataclasses.replace(pillars[0], when=When(all=("lesion:made-up",)))
    with pytest.raises(NarrowingError, match="lesion:made-up"):
        narrowing(_with(KB, "suspicion", "pillars", tuple(pillars)))  # type: ignore[arg-type]


def test_a_lesion_signal_traced_to_a_missing_concept_is_refused() -> None:
    concepts = {k: v for k, v in KB.concepts.items() if k != "consistency-firm"}
    with pytest.raises(NarrowingError, match="lesion:hard-or-firm"):
        narrowing(dataclasses.replace(KB, concepts=concepts))


def test_rules_that_hold_on_acne_alone_make_every_acne_patient_a_candidate() -> None:
    # With one supporting feature enough for `moderate`, a long acne history alone would do:
    # the narrowing cannot gate on sources, and says so instead of missing patients.
    levels = {**KB.suspicion["levels"], "moderate_supporting": 1}
    with pytest.raises(NarrowingError, match="acne history alone"):
        narrowing(_with(KB, "suspicion", "levels", levels))  # type: ignore[arg-type]


def _vocabulary(kb: Knowledge) -> list[str]:
    words = {w for c in kb.concepts.values() for s in c.synonyms for w in s.split()}
    return [*sorted(w.rstrip("*") for w in words), "no", "not", "and", ",", ".", "-", "denies"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_vocabulary(KB)), min_size=1, max_size=12), st.sampled_from(" ,-/"))
def test_whatever_the_engine_finds_in_text_the_patterns_find(words: list[str], gap: str) -> None:
    # The superset guarantee for words: a hit of a narrowing concept (negated or not) is
    # always seen by the regular expression of its group.
    text = gap.join(words)
    hits = {h.concept for h in KB.findings_matcher.find(text)}
    for patterns, regex in ((N.evidence, EVIDENCE), (N.acne, ACNE), *GROUPS):
        if hits & patterns.concepts:
            assert regex.search(text.lower())
