"""Negation-aware phrase matching on short clinical text.

Synonyms are matched on word tokens through a dictionary keyed by the first token (a word
ending in `*` matches by prefix), so the cost grows with the text, not with the size of the
value sets. Each hit knows whether a cue negates it ("no livedo, purpura or necrosis"), makes it
uncertain ("?osteoma") or gives it to someone else ("mother has scleroderma"). A cue reaches
forward to the end of its clause; a post-cue ("von Kossa: negative") reaches back a few words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z0-9]+|[;.!?]|\?")
_PREFIX = "*"


@dataclass(frozen=True, slots=True)
class Cues:
    """Cue phrases, each a tuple of tokens. Loaded from the knowledge data."""

    negation: tuple[tuple[str, ...], ...]
    negation_after: tuple[tuple[str, ...], ...]
    uncertainty: tuple[tuple[str, ...], ...]
    experiencer: tuple[tuple[str, ...], ...]
    clause_breaks: frozenset[str]
    forward_window: int
    backward_window: int


@dataclass(frozen=True, slots=True)
class Hit:
    concept: str
    start: int  # character offsets in the original text
    end: int
    negated: bool
    uncertain: bool
    other_person: bool

    @property
    def affirmed(self) -> bool:
        return not (self.negated or self.uncertain or self.other_person)


def tokenize(phrase: str) -> tuple[str, ...]:
    return tuple(m.group() for m in _TOKEN.finditer(phrase.lower()))


class PhraseMatcher:
    """Finds concept synonyms in text. Build once per knowledge base; matching is pure."""

    def __init__(self, synonyms: Mapping[str, Iterable[str]], cues: Cues) -> None:
        self._cues = cues
        self._exact: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        self._prefix: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        lengths: set[int] = set()
        for concept, phrases in synonyms.items():
            for phrase in phrases:
                words = tuple(w for w in phrase.lower().split() if w)
                if not words:
                    continue
                first = words[0]
                if first.endswith(_PREFIX):
                    stem = first[:-1]
                    lengths.add(len(stem))
                    self._prefix.setdefault(stem, []).append((words, concept))
                else:
                    self._exact.setdefault(first, []).append((words, concept))
        for table in (self._exact, self._prefix):
            for entries in table.values():
                entries.sort(key=lambda e: -len(e[0]))  # longest phrase wins
        self._lengths = tuple(sorted(lengths))
        self._cue_index = _index_cues(cues)

    def find(self, text: str) -> list[Hit]:
        """All concept hits in `text`, each at most once per position, longest phrase first."""
        lowered = text.lower()
        spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(lowered)]
        tokens = [s[0] for s in spans]
        clause = _clause_ids(tokens, self._cues.clause_breaks)
        hits: list[Hit] = []
        i = 0
        n = len(tokens)
        while i < n:
            match = self._match_at(tokens, i)
            if match is None:
                i += 1
                continue
            length, concepts = match
            negated, uncertain, other = self._context(tokens, clause, i, i + length)
            start, end = spans[i][1], spans[i + length - 1][2]
            hits.extend(Hit(c, start, end, negated, uncertain, other) for c in concepts)
            i += length
        return hits

    def _match_at(self, tokens: Sequence[str], i: int) -> tuple[int, tuple[str, ...]] | None:
        """The longest phrase starting at token i, with every concept that phrase names."""
        token = tokens[i]
        candidates = list(self._exact.get(token, ()))
        for size in self._lengths:
            if len(token) >= size:
                candidates.extend(self._prefix.get(token[:size], ()))
        best = 0
        concepts: list[str] = []
        for words, concept in candidates:
            if len(words) < best or not _matches(words, tokens, i):
                continue
            if len(words) > best:
                best, concepts = len(words), []
            if concept not in concepts:
                concepts.append(concept)
        return (best, tuple(concepts)) if concepts else None

    def _context(
        self, tokens: Sequence[str], clause: Sequence[int], start: int, end: int
    ) -> tuple[bool, bool, bool]:
        cues = self._cues
        here = clause[start]
        lo = max(0, start - cues.forward_window)
        while lo < start and clause[lo] != here:
            lo += 1
        negated = uncertain = other = False
        for j in range(lo, start):
            kind = self._cue_at(tokens, j, start)
            if kind == "negation":
                negated = True
            elif kind == "uncertainty":
                uncertain = True
            elif kind == "experiencer":
                other = True
        hi = min(len(tokens), end + cues.backward_window)
        for j in range(end, hi):
            if clause[j] != here:
                break
            if self._cue_at(tokens, j, hi) == "negation_after":
                negated = True
        if start > 0 and tokens[start - 1] == "?":
            uncertain = True
        return negated, uncertain, other

    def _cue_at(self, tokens: Sequence[str], j: int, limit: int) -> str | None:
        for words, kind in self._cue_index.get(tokens[j], ()):
            if j + len(words) <= limit and _matches(words, tokens, j):
                return kind
        return None


def _index_cues(cues: Cues) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kind, phrases in (
        ("negation", cues.negation),
        ("negation_after", cues.negation_after),
        ("uncertainty", cues.uncertainty),
        ("experiencer", cues.experiencer),
    ):
        for words in phrases:
            index.setdefault(words[0], []).append((words, kind))
    return index


def _matches(words: Sequence[str], tokens: Sequence[str], i: int) -> bool:
    if i + len(words) > len(tokens):
        return False
    for k, word in enumerate(words):
        token = tokens[i + k]
        if word.endswith(_PREFIX):
            if not token.startswith(word[:-1]):
                return False
        elif token != word:
            return False
    return True


def _clause_ids(tokens: Sequence[str], breaks: frozenset[str]) -> list[int]:
    ids: list[int] = []
    current = 0
    for token in tokens:
        if token in breaks:
            current += 1
        ids.append(current)
    return ids
