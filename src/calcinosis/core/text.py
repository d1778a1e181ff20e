"""Negation-aware phrase matching on short clinical text.

Synonyms are matched on word tokens through a dictionary keyed by the first token (a word
ending in `*` matches by prefix), so the cost grows with the text, not with the size of the
value sets. Each hit knows whether a cue negates it ("no livedo, purpura or necrosis"), makes it
uncertain ("?osteoma") or gives it to someone else ("mother has scleroderma"). A cue reaches
forward to the end of its clause; a post-cue ("von Kossa: negative") reaches back a few words.

Matching is pure, so each matcher remembers its answers for recently seen texts (lab names,
body sites and exam wording recur from one record to the next).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"[a-z0-9]+|[;.!?]|\?")
# The same tokens as a split: [gap, token, gap, token, ..., gap] in one pass, so the character
# offsets follow from the lengths without a match object per token.
_SPLIT = re.compile(f"({_TOKEN.pattern})")
_PREFIX = "*"
# Distinct texts whose hits each matcher keeps, and distinct tokens whose candidate phrases it
# keeps; with the length limits they bound the memory a long-running process spends on them.
# Longer texts (whole notes) rarely repeat and are matched afresh.
TEXT_CACHE_SIZE = 4096
TEXT_CACHE_MAX_CHARS = 1000
_TOKEN_CACHE_SIZE = 65536
_TOKEN_CACHE_MAX_CHARS = 40

# A phrase after its first word: (word, matches-by-prefix) pairs.
_Rest = tuple[tuple[str, bool], ...]
# Candidates for one first token: (phrase length, ((rest, concept), ...)), longest first.
_Groups = tuple[tuple[int, tuple[tuple[_Rest, str], ...]], ...]


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
    return tuple(_TOKEN.findall(phrase.lower()))


class PhraseMatcher:
    """Finds concept synonyms in text. Build once per knowledge base; matching is pure."""

    def __init__(
        self,
        synonyms: Mapping[str, Iterable[str]],
        cues: Cues,
        *,
        cache_size: int = TEXT_CACHE_SIZE,
    ) -> None:
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
        self._groups: dict[str, _Groups] = {}
        self._cue_index = _index_cues(cues)
        self._cached = functools.lru_cache(maxsize=cache_size)(self._find)

    @property
    def cues(self) -> Cues:
        return self._cues

    def phrases_of(self, concepts: Iterable[str]) -> tuple[str, ...]:
        """The phrases (space-separated words, `*` for a prefix) that find these concepts."""
        wanted = set(concepts)
        return tuple(
            sorted(
                " ".join(words)
                for table in (self._exact, self._prefix)
                for entries in table.values()
                for words, concept in entries
                if concept in wanted
            )
        )

    def find(self, text: str) -> tuple[Hit, ...]:
        """All concept hits in `text`, each at most once per position, longest phrase first."""
        if len(text) > TEXT_CACHE_MAX_CHARS:
            return self._find(text)
        return self._cached(text)

    def clear_cache(self) -> None:
        """Forget remembered texts and tokens (for measuring the cold path)."""
        self._cached.cache_clear()
        self._groups.clear()

    def _find(self, text: str) -> tuple[Hit, ...]:
        parts = _SPLIT.split(text.lower())
        tokens = parts[1::2]
        n = len(tokens)
        groups_of = self._groups
        found: list[tuple[int, int, tuple[str, ...]]] = []  # (first token, length, concepts)
        i = 0
        while i < n:
            token = tokens[i]
            groups = groups_of.get(token)
            if groups is None:
                groups = self._candidates(token)
            if groups:
                match = _longest(groups, tokens, i, n)
                if match is not None:
                    found.append((i, match[0], match[1]))
                    i += match[0]
                    continue
            i += 1
        if not found:
            return ()
        # offsets and clauses are needed only once something matched
        ends = list(itertools.accumulate(map(len, parts)))  # token k is part 2k + 1
        clause = _clause_ids(tokens, self._cues.clause_breaks)
        hits: list[Hit] = []
        for start, length, concepts in found:
            negated, uncertain, other = self._context(tokens, clause, start, start + length)
            begin, end = ends[2 * start], ends[2 * (start + length) - 1]
            hits.extend(Hit(c, begin, end, negated, uncertain, other) for c in concepts)
        return tuple(hits)

    def _candidates(self, token: str) -> _Groups:
        """Every phrase that can start at `token`, grouped by length, longest group first.

        Within a length the phrases keep the order the synonym tables give them, which decides
        the order of concepts sharing one phrase.
        """
        candidates = list(self._exact.get(token, ()))
        for size in self._lengths:
            if len(token) >= size:
                candidates.extend(self._prefix.get(token[:size], ()))
        by_length: dict[int, list[tuple[_Rest, str]]] = {}
        for words, concept in candidates:
            # the first word matches by construction of the tables; only the rest is checked
            rest = tuple((w[:-1], True) if w.endswith(_PREFIX) else (w, False) for w in words[1:])
            by_length.setdefault(len(words), []).append((rest, concept))
        groups = tuple((size, tuple(by_length[size])) for size in sorted(by_length, reverse=True))
        if len(self._groups) < _TOKEN_CACHE_SIZE and len(token) <= _TOKEN_CACHE_MAX_CHARS:
            self._groups[token] = groups
        return groups

    def _context(
        self, tokens: Sequence[str], clause: Sequence[int], start: int, end: int
    ) -> tuple[bool, bool, bool]:
        cues = self._cues
        index = self._cue_index
        here = clause[start]
        lo = max(0, start - cues.forward_window)
        while lo < start and clause[lo] != here:
            lo += 1
        negated = uncertain = other = False
        for j in range(lo, start):
            if tokens[j] not in index:
                continue
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
            # Asked by kind: "absent" and "not identified" also start forward negation cues,
            # which would otherwise shadow the after-phrase reading.
            if tokens[j] in index and self._cue_at(tokens, j, hi, "negation_after"):
                negated = True
        if start > 0 and tokens[start - 1] == "?":
            uncertain = True
        return negated, uncertain, other

    def _cue_at(
        self, tokens: Sequence[str], j: int, limit: int, only: str | None = None
    ) -> str | None:
        """The first cue (in index order, or only of kind `only`) that starts at token j and
        ends before `limit`."""
        for words, kind in self._cue_index.get(tokens[j], ()):
            if only is not None and kind != only:
                continue
            if j + len(words) <= limit and _matches(words, tokens, j):
                return kind
        return None


def _longest(
    groups: _Groups, tokens: Sequence[str], i: int, n: int
) -> tuple[int, tuple[str, ...]] | None:
    """The longest phrase starting at token i, with every concept that phrase names."""
    for size, entries in groups:
        if i + size > n:
            continue
        concepts: list[str] = []
        for rest, concept in entries:
            if concept in concepts:
                continue
            k = i + 1
            for word, prefix in rest:
                token = tokens[k]
                if not (token.startswith(word) if prefix else token == word):
                    break
                k += 1
            else:
                concepts.append(concept)
        if concepts:
            return size, tuple(concepts)
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
