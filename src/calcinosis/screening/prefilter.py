r"""A cheap test on the NDJSON resources that spares DuckDB's views most of the export.

The views parse each resource several times over; a regular expression reads it once. A
resource can set a narrowing flag only when the JSON text of what the view reads holds, for
some phrase of some pattern, one of the phrase's words (case-folded, at word edges), or one of
the codes (with dots anywhere), or an attachment's `"data"` (base64, which only the views
decode). So the views need only the resources that pass: the test is loose, and never drops
one the views would flag.

- DuckDB's JSON reader keeps only the members a view reads (`CompiledView.members`), and the
  view gets the resource reduced to them, which gives it the same rows. The test reads only
  those the codes and words come from (`engine.narrowing_members`): not the patient's reference,
  a sixth of a lab result's text. A view that reads the whole resource gets whole lines,
  tested whole.
- One word per phrase: the views join several fields before matching, so a phrase may
  straddle two fields, but each of its words sits inside one.
- A JSON escape before a word (`\n`) ends in a letter, so it counts as a word edge; text
  holding a `\u` escape (a letter may hide behind one) always passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from calcinosis.screening.narrowing import Narrowing, Patterns

_EDGE_BEFORE = r"(?:^|[^a-z0-9]|\\[a-z])"
_EDGE_AFTER = r"(?:[^a-z0-9]|$)"
_ESCAPE = r"\u"
_ATTACHMENT = '"data"'


def line_pattern(narrowing: Narrowing) -> str:
    """One RE2 pattern a resource's text must match to be able to set any narrowing flag."""
    return _alternation(narrowing.patterns, narrowing.lab_words)


def keep_sql(column: str, narrowing: Narrowing) -> str:
    """Whether the JSON text in `column` may set a narrowing flag: it must match the pattern of
    them all, and then one that can flag alone (evidence, acne, a one-group term), or every
    group of a term of several (a drug and a word of non-response: cheap to ask of the few
    that pass the first test, and most of those are other drugs "not" in need of a response)."""
    alone = [narrowing.evidence, narrowing.acne]
    several = [term for term in narrowing.terms if len(term) > 1]
    if len({len(term) for term in several}) > 1:  # no common shape: each group flags alone
        alone += narrowing.groups
        several = []
    alone += [narrowing.groups[term[0]] for term in narrowing.terms if len(term) == 1]
    test = f"regexp_matches({column}, {_text(line_pattern(narrowing))})"
    if several:
        # a term's groups by position, merged across terms: a loosening of "one term's all"
        together = [
            _alternation((narrowing.groups[term[i]] for term in several), narrowing.lab_words)
            for i in range(len(several[0]))
        ]
        each = " AND ".join(f"regexp_matches({column}, {_text(r)})" for r in together)
        first = _alternation(alone, narrowing.lab_words)
        test += f" AND (regexp_matches({column}, {_text(first)}) OR ({each}))"
    return (
        f"(contains({column}, {_text(_ESCAPE)}) OR contains({column}, {_text(_ATTACHMENT)}) "
        f"OR ({test}))"
    )


def _alternation(patterns: Iterable[Patterns], avoid: frozenset[str]) -> str:
    """An RE2 pattern that matches text whenever one of the patterns' phrases or codes is in
    it: one word of each phrase (not one of `avoid` where it can), at word edges, any case;
    codes with dots anywhere."""
    chosen = list(patterns)
    words = _one_word_each((phrase for p in chosen for phrase in p.phrases), avoid)
    codes = sorted({c for p in chosen for c in _codes(p)})
    alternatives = []
    if words:
        alternatives.append(_EDGE_BEFORE + "(?:" + "|".join(words) + ")" + _EDGE_AFTER)
    alternatives += ["(?:" + r"\.?".join(re.escape(ch) for ch in code) + ")" for code in codes]
    return "(?i)(?:" + "|".join(alternatives) + ")" if alternatives else "x^"


def telling_sql(
    files: str,
    members: tuple[str, ...] | None,
    tested: tuple[str, ...] | None,
    narrowing: Narrowing,
) -> str:
    """The resources of the NDJSON `files` (a DuckDB list of paths) that may tell the narrowing
    something, as a relation with a column `resource` of JSON text for a view that reads
    `members` (or, when None, the whole resource) and takes its codes and words from `tested`
    (some of them). With members, DuckDB's JSON reader keeps only them: the test reads the
    tested ones alone, and the view gets the resource reduced to all of them."""
    if members is None:
        return (
            f"SELECT resource FROM (SELECT json::VARCHAR AS resource FROM "
            f"read_ndjson_objects({files}, compression = 'auto_detect')) "
            f"WHERE {keep_sql('resource', narrowing)}"
        )
    kept = ("resourceType", *members)
    columns = ", ".join(f"{_text(m)}: {_text('JSON')}" for m in members)
    read = [m for m in members if tested is None or m in tested]
    said = ", ".join(f"CAST({_ident(m)} AS VARCHAR)" for m in read) or "''"
    rebuilt = ", ".join(f"{_text(m)}, {_ident(m)}" for m in kept)
    return (
        f"SELECT json_object({rebuilt}) AS resource FROM (SELECT *, concat_ws(' ', {said}) "
        f"AS said FROM read_json({files}, format = 'newline_delimited', "
        f"compression = 'auto_detect', columns = {{'resourceType': 'VARCHAR', {columns}}})) "
        f"WHERE {keep_sql('said', narrowing)}"
    )


def _one_word_each(phrases: Iterable[str], avoid: frozenset[str]) -> list[str]:
    """A word of every phrase, as RE2: shorter phrases first, reusing a word already chosen,
    else the phrase's longest word not to avoid (longer words are rarer in other text). Any
    word of a phrase will do, since a phrase matches only where all of its words are."""
    chosen: list[str] = []
    for phrase in sorted(set(phrases), key=lambda p: (len(p.split()), len(p), p)):
        words = phrase.split()
        if not any(w in chosen for w in words):
            rarer = [w for w in words if w.rstrip("*") not in avoid] or words
            chosen.append(max(rarer, key=len))
    return sorted(
        {re.escape(w.rstrip("*")) + ("[a-z0-9]*" if w.endswith("*") else "") for w in chosen},
        key=lambda w: (-len(w), w),
    )


def _codes(patterns: Patterns) -> Iterable[str]:
    return (*patterns.codes, *patterns.code_prefixes)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(text: str) -> str:
    """A DuckDB string literal (which reads backslashes as themselves)."""
    return "'" + text.replace("'", "''") + "'"
