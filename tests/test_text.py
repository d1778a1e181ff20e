"""The phrase matcher against a plain reference, and its caches against no caches."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

import calcinosis
from calcinosis.core.text import Cues, PhraseMatcher, tokenize

KB = calcinosis.load_knowledge()
CUES: Cues = KB.findings_matcher._cues
TOKEN = re.compile(r"[a-z0-9]+|[;.!?]|\?")
Row = tuple[str, int, int, bool, bool, bool]


def reference(synonyms: Mapping[str, Sequence[str]], cues: Cues, text: str) -> list[Row]:
    """The matching rules spelled out the slow way: at each token the longest phrase wins (every
    concept naming it), then the cues in its clause decide negation, uncertainty and experiencer.
    """
    phrases = [(tuple(p.split()), c) for c, ps in synonyms.items() for p in ps if p.split()]
    cue_list = [
        (words, kind)
        for kind, group in (
            ("negation", cues.negation),
            ("negation_after", cues.negation_after),
            ("uncertainty", cues.uncertainty),
            ("experiencer", cues.experiencer),
        )
        for words in group
    ]
    lowered = text.lower()
    spans = [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(lowered)]
    tokens = [s[0] for s in spans]
    clause, current = [], 0
    for token in tokens:
        current += token in cues.clause_breaks
        clause.append(current)

    def fits(words: Sequence[str], i: int, limit: int) -> bool:
        if i + len(words) > limit:
            return False
        return all(
            tokens[i + k].startswith(w[:-1]) if w.endswith("*") else tokens[i + k] == w
            for k, w in enumerate(words)
        )

    def cue_at(j: int, limit: int) -> str | None:
        # the first cue listed for this word that fits wins, even if a longer one would too
        for words, kind in cue_list:
            if words[0] == tokens[j] and fits(words, j, limit):
                return kind
        return None

    def negates_after(j: int, limit: int) -> bool:
        # after the phrase only the after-cues count, whatever else starts with the same word
        return any(
            kind == "negation_after" and words[0] == tokens[j] and fits(words, j, limit)
            for words, kind in cue_list
        )

    out: list[Row] = []
    i = 0
    while i < len(tokens):
        fitting = [(len(w), c) for w, c in phrases if fits(w, i, len(tokens))]
        if not fitting:
            i += 1
            continue
        size = max(n for n, _ in fitting)
        concepts = list(dict.fromkeys(c for n, c in fitting if n == size))
        end = i + size
        lo = max(0, i - cues.forward_window)
        while lo < i and clause[lo] != clause[i]:
            lo += 1
        kinds = {cue_at(j, i) for j in range(lo, i)}
        negated = "negation" in kinds
        for j in range(end, min(len(tokens), end + cues.backward_window)):
            if clause[j] != clause[i]:
                break
            negated = negated or negates_after(j, min(len(tokens), end + cues.backward_window))
        uncertain = "uncertainty" in kinds or (i > 0 and tokens[i - 1] == "?")
        other = "experiencer" in kinds
        start_char, end_char = spans[i][1], spans[end - 1][2]
        out += [(c, start_char, end_char, negated, uncertain, other) for c in concepts]
        i = end
    return out


def rows(matcher: PhraseMatcher, text: str) -> list[Row]:
    return [
        (h.concept, h.start, h.end, h.negated, h.uncertain, h.other_person)
        for h in matcher.find(text)
    ]


FINDINGS = {c.id: c.synonyms for c in KB.concepts.values() if c.kind != "medication"}
# Prefixes, phrases shared by two concepts and phrases inside longer ones.
TOY = {"a": ["foo bar*", "foo", "ba* qux", "x* y z"], "b": ["foo bar", "bazz", "ba*"], "c": ["foo"]}
CUE_PHRASES = [
    " ".join(words)
    for group in (CUES.negation, CUES.negation_after, CUES.uncertainty, CUES.experiencer)
    for words in group
]


def pieces(synonyms: Mapping[str, Sequence[str]]) -> list[str]:
    """Whole synonyms (a prefix word completed two ways), their words, cues and clause breaks."""
    phrases = [p for ps in synonyms.values() for p in ps]
    out = {p.replace("*", "") for p in phrases} | {p.replace("*", "ic") for p in phrases}
    out |= {w.rstrip("*") for p in phrases for w in p.split()}
    return sorted(out | set(CUE_PHRASES) | set(CUES.clause_breaks) | {"barn", "12", "İ", "é"})


def texts(synonyms: Mapping[str, Sequence[str]]) -> st.SearchStrategy[str]:
    separators = st.sampled_from([" ", " ", " ", ", ", ". ", "; ", "?", "", "-", " : ", "\n"])
    parts = st.tuples(st.sampled_from(pieces(synonyms)), separators)
    return st.lists(parts, max_size=16).map(lambda ps: "".join(w + s for w, s in ps))


@settings(max_examples=500)
@given(texts(FINDINGS), st.booleans())
def test_findings_matcher_agrees_with_the_reference(text: str, upper: bool) -> None:
    text = text.upper() if upper else text
    assert rows(KB.findings_matcher, text) == reference(FINDINGS, CUES, text)


@settings(max_examples=300)
@given(texts(TOY))
def test_prefixes_and_shared_phrases_agree_with_the_reference(text: str) -> None:
    assert rows(PhraseMatcher(TOY, CUES), text) == reference(TOY, CUES, text)


def test_known_sentences() -> None:
    m = KB.findings_matcher
    assert [h.concept for h in m.find("no calcification")] == ["calcified"]
    assert m.find("no calcification")[0].negated
    assert m.find("von Kossa: negative")[0].negated
    # After-phrase cues that also begin forward cues ("absent", "not ...") still negate.
    for text in (
        "calcium deposits absent",
        "calcification: not identified",
        "calcification not seen",
        "calcification excluded",
        "calcification ruled out",
    ):
        hits = m.find(text)
        assert hits and all(h.negated for h in hits), text
    assert not m.find("calcification present")[0].negated
    assert m.find("mother has scleroderma")[0].other_person
    assert m.find("") == ()
    assert tokenize("Foo, bar? 12-x") == ("foo", "bar", "?", "12", "x")


def test_cached_answers_equal_fresh_ones() -> None:
    text = "multiple persistent comedo-like papules on the cheeks, no pain; ?osteoma"
    cold = PhraseMatcher(FINDINGS, CUES, cache_size=0)
    warm = PhraseMatcher(FINDINGS, CUES)
    first = warm.find(text)
    assert warm.find(text) is first  # remembered, and immutable so it can be shared
    assert isinstance(first, tuple)
    assert first == cold.find(text) == cold.find(text)
    warm.clear_cache()
    assert warm.find(text) == first


def test_long_texts_are_matched_afresh_not_remembered() -> None:
    matcher = PhraseMatcher(FINDINGS, CUES)
    note = "Examination: hard white papules on the cheeks, no pain. " * 40
    assert len(note) > 1000
    first = matcher.find(note)
    again = matcher.find(note)
    assert first == again and first is not again
    assert first == PhraseMatcher(FINDINGS, CUES, cache_size=0).find(note)
    assert [h.concept for h in first].count("pain") == 40
    assert all(h.negated for h in first if h.concept == "pain")
