"""Reading a clinic note: sentences with offsets, sections, ConText-style status, findings,
treatments with their response, inline lab values and lesion counts and durations.

A rule engine on the phrase matcher: every word it knows (section headers, cues, response
phrases, lab abbreviations, units of duration) comes from knowledge/notes.yaml and the value
sets; this module holds only the mechanics. Offsets are character offsets into the text given,
so a statement can point at `DocumentReference/<id>#<start>-<end>`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from calcinosis.core.text import Hit, PhraseMatcher
from calcinosis.errors import UnitError

if TYPE_CHECKING:
    from calcinosis.core.knowledge import Knowledge

STATUSES = ("affirmed", "negated", "uncertain", "other-person", "historical")
RESPONSES = ("no response", "partial", "responded")
FLAGS = ("normal", "high", "low", "abnormal", "positive", "negative")

_HEADER = re.compile(r"[ \t]*([A-Za-z][A-Za-z0-9 /&()'+.,-]{0,60}?)[ \t]*:")
# A finding the matcher names with this prefix is absent ("painless"); this name is no finding.
NEGATED_PREFIX = "!"
NOT_A_FINDING = "-"
# The historical matcher's concepts: a cue before what it places in the past ("history of
# acne"), or after it ("had acne in the past").
HISTORICAL = "historical"
HISTORICAL_AFTER = "historical-after"
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_NUMBER = re.compile(r"\s*(?:[:=]|is|was|of|at)?\s*(-?\d+(?:[.,]\d+)?)(?![\d/])")
_UNIT = re.compile(r"[ \t]*([A-Za-zµμ%/{}_.\d^*\[\]]+)")
_WORD = re.compile(r"[a-z0-9]+")
_TAG = re.compile(r"<[^>]*>|&[a-zA-Z#0-9]+;")
_BLOCK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h\d|p|div|li|tr|h\d)\b[^>]*>", re.I)


@dataclass(frozen=True, slots=True)
class Section:
    context: str
    other_person: bool = False
    historical: bool = False
    skip: bool = False
    ends_with_line: bool = False


@dataclass(frozen=True)
class NoteRules:
    """knowledge/notes.yaml, validated and indexed by the loader."""

    citations: tuple[str, ...]
    sections: Mapping[str, Section]
    default_context: str
    abbreviations: frozenset[str]
    findings: PhraseMatcher  # value-set findings and conditions plus note-only wording
    triggers: PhraseMatcher  # concept = context name
    context_forward_window: int  # words a trigger after a finding reaches back over
    historical: PhraseMatcher  # concept = HISTORICAL or HISTORICAL_AFTER
    historical_reach_back: int  # words a historical cue after a finding reaches back over
    responses: PhraseMatcher  # concept = "response:<r>" or "status:<s>"
    flags: PhraseMatcher  # concept = flag
    analytes: PhraseMatcher  # analytes.yaml synonyms plus note abbreviations
    clause_breaks: frozenset[str]
    duration_units: Mapping[str, str]  # word -> UCUM
    duration_not_after: frozenset[str]
    duration_not_before: frozenset[str]
    duration_lead_words: frozenset[str]  # may open a clause before a duration of what follows
    lesion_conditions: frozenset[str]  # diagnoses that name the lesions themselves
    number_words: Mapping[str, int]
    count_words: frozenset[str]
    lesion_nouns: frozenset[str]


@dataclass(frozen=True, slots=True)
class NoteFinding:
    """One thing the note says, in the sentence at [start, end)."""

    kind: str  # finding | medication | lab | lesion-count | lesion-duration
    concept: str  # concept id, analyte id, or "lesions"
    status: str  # one of STATUSES
    start: int  # the sentence
    end: int
    sentence: str
    context: str = "note"
    hit_start: int = 0  # the words themselves
    hit_end: int = 0
    value: float | None = None  # as written
    unit: str | None = None  # UCUM, as written (after alias mapping)
    flag: str | None = None
    response: str | None = None
    med_status: str | None = None
    duration_days: float | None = None
    count: int | None = None
    count_text: str = ""
    problem: str = ""  # why a value could not be used
    reason: str = ""  # why a treatment was stopped, as written

    @property
    def counts(self) -> bool:
        """Whether the finding is the patient's and present (negated, other-person: never)."""
        return self.status in ("affirmed", "historical")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "concept": self.concept,
            "status": self.status,
            "span": [self.start, self.end],
            "text": self.sentence,
            "context": self.context,
        }
        for key in ("value", "unit", "flag", "response", "duration_days", "count"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.med_status:
            out["treatment_status"] = self.med_status
        if self.count_text:
            out["count_text"] = self.count_text
        if self.problem:
            out["problem"] = self.problem
        if self.reason:
            out["stopped_because"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int
    end: int
    section: Section


@dataclass(frozen=True)
class NoteExtraction:
    text: str
    sentences: tuple[Sentence, ...]
    findings: tuple[NoteFinding, ...] = field(default=())


def html_to_text(markup: str) -> str:
    """Tags and entities blanked out, keeping every character offset of the markup.

    Block tags become a newline followed by spaces, so paragraphs still end sentences; an
    entity becomes its character padded with spaces.
    """

    def blank(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("&"):
            char = html.unescape(token)
            char = char if len(char) == 1 and char.isprintable() else " "
            return char + " " * (len(token) - 1)
        if _BLOCK.fullmatch(token):
            return "\n" + " " * (len(token) - 1)
        return " " * len(token)

    return _TAG.sub(blank, markup)


def sentences(text: str, rules: NoteRules, context: str | None = None) -> tuple[Sentence, ...]:
    """Sentences with offsets: lines, then sentence ends; headers open sections. Text outside
    any section is read in `context` (a histology report's own text), else the default."""
    default = Section(context or rules.default_context)
    section = default
    out: list[Sentence] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        start, end = pos, pos + len(line)
        pos = end
        body = line.rstrip("\r\n")
        if not body.strip():
            section = default
            continue
        header = _HEADER.match(body)
        offset = 0
        after_line = None
        if header:
            found = _section(header.group(1), rules)
            if found is not None:
                if found.ends_with_line and body[header.end() :].strip():
                    after_line = section
                section = found
                offset = header.end()
        segment_start = start + offset
        last = segment_start
        for match in _SENTENCE_END.finditer(text, segment_start, start + len(body)):
            before = text[last : match.start()].rsplit(None, 1)
            word = before[-1].lower() if before else ""
            if word in rules.abbreviations:
                continue
            _add(out, text, last, match.end(), section)
            last = match.end()
        _add(out, text, last, start + len(body), section)
        if after_line is not None:
            section = after_line
    return tuple(out)


def _section(name: str, rules: NoteRules) -> Section | None:
    """A header's section: its words, else without a parenthesis, else its last word."""
    words = _WORD.findall(name.lower())
    bare = _WORD.findall(re.sub(r"\(.*?\)|\(.*$", " ", name.lower()))
    for key in (words, bare, bare[-1:]):
        found = rules.sections.get(" ".join(key))
        if found is not None:
            return found
    return None


def _add(out: list[Sentence], text: str, start: int, end: int, section: Section) -> None:
    chunk = text[start:end]
    stripped = chunk.lstrip(" \t-*•·>")
    start += len(chunk) - len(stripped)
    end = start + len(stripped.rstrip())
    if end > start and any(c.isalnum() for c in text[start:end]):
        out.append(Sentence(start, end, section))


def extract(text: str, kb: Knowledge, context: str | None = None) -> NoteExtraction:
    """Everything the note says that the engine reads, each with its sentence. `context` is how
    text under no header is read (default: the knowledge's note context); a pathology or
    imaging report's attachment is read as histology or imaging."""
    rules = kb.note_rules
    if context is not None and context not in kb.contexts:
        raise ValueError(f"unknown note context {context!r}")
    found: list[NoteFinding] = []
    sents = sentences(text, rules, context)
    for sent in sents:
        if sent.section.skip:
            continue
        _read_sentence(text, sent, kb, rules, found)
    return NoteExtraction(text, sents, tuple(found))


def _clauses(sentence: str, rules: NoteRules) -> list[int]:
    """Character offsets (in the sentence) where a new clause starts."""
    starts = [0]
    for match in _WORD_OR_SEMI.finditer(sentence.lower()):
        if match.group(0) in rules.clause_breaks:
            starts.append(match.start())
    return starts


_WORD_OR_SEMI = re.compile(r"[a-z0-9]+|[;]")


def _clause_of(pos: int, starts: Sequence[int]) -> int:
    k = 0
    for i, s in enumerate(starts):
        if s <= pos:
            k = i
    return k


def _status(hit: Hit, historical: bool, section: Section) -> str:
    if hit.other_person or section.other_person:
        return "other-person"
    if hit.negated:
        return "negated"
    if hit.uncertain:
        return "uncertain"
    if historical or section.historical:
        return "historical"
    return "affirmed"


def _read_sentence(
    text: str, sent: Sentence, kb: Knowledge, rules: NoteRules, out: list[NoteFinding]
) -> None:
    s = text[sent.start : sent.end]
    base = sent.start
    clauses = _clauses(s, rules)
    triggers = [(h.start, h.concept, _clause_of(h.start, clauses)) for h in rules.triggers.find(s)]
    lowered = s.lower()
    # "for the past 5 years", "over the last few months": a span of time up to now, not history
    past = [
        (h.start, h.concept, _clause_of(h.start, clauses))
        for h in rules.historical.find(s)
        if not _opens_a_span(lowered, h.end, rules)
    ]

    def context_at(pos: int, end: int) -> str:
        clause = _clause_of(pos, clauses)
        before = [(p, c) for p, c, k in triggers if k == clause and p <= pos]
        if before:
            return before[-1][1]
        after = [(p, c) for p, c, k in triggers if k == clause and p > pos]
        if after and _reaches_back(s, clauses[clause], end, after[0][0], rules):
            return after[0][1]
        earlier = [c for p, c, _ in triggers if p <= pos]
        return earlier[-1] if earlier else sent.section.context

    def is_past(pos: int, end: int) -> bool:
        clause = _clause_of(pos, clauses)
        for p, kind, k in past:
            if k != clause:
                continue
            if kind == HISTORICAL and p <= pos:
                return True
            if (
                kind == HISTORICAL_AFTER
                and p >= end
                and len(_WORD.findall(lowered, end, p)) <= rules.historical_reach_back
            ):
                return True
        return False

    def make(kind: str, concept: str, status: str, hit: Hit, **extra: Any) -> NoteFinding:
        return NoteFinding(
            kind,
            concept,
            status,
            sent.start,
            sent.end,
            s,
            hit_start=base + hit.start,
            hit_end=base + hit.end,
            **extra,
        )

    labs_found: list[NoteFinding] = []
    _labs(s, sent, kb, rules, make, labs_found)
    valued = [(f.hit_start - base, f.hit_end - base) for f in labs_found if f.value is not None]
    meds = [
        h for h in kb.medication_matcher.find(s) if not any(a <= h.start < b for a, b in valued)
    ]
    med_spans = [(h.start, h.end) for h in meds]
    responses = [h for h in rules.responses.find(s) if h.concept.startswith("response:")]
    lesion_seen = False
    # what the sentence names, in order: True for the lesions, False for anything else (a
    # disease, a drug, a lab), so that a duration can be given to the nearest of them
    mentions: list[tuple[int, bool]] = [(h.start, False) for h in meds]
    mentions += [(f.hit_start - base, False) for f in labs_found]
    mentions += [(m.start(), True) for m in _WORD.finditer(s.lower()) if m[0] in rules.lesion_nouns]
    seen: set[tuple[str, str, str]] = set()
    for hit in rules.findings.find(s):
        if any(a <= hit.start < b for a, b in med_spans) or hit.concept == NOT_A_FINDING:
            continue  # "vitamin D" the drug, not a finding
        named = hit.concept.removeprefix(NEGATED_PREFIX)
        known = kb.concepts.get(named)
        lesion = known is None or known.kind == "finding" or named in rules.lesion_conditions
        mentions.append((hit.start, lesion))
        if hit.concept.startswith(NEGATED_PREFIX):
            hit = Hit(hit.concept[1:], hit.start, hit.end, True, False, hit.other_person)
        elif hit.negated:
            hit = _negation_of_response(s, hit, responses, clauses, rules)
        context = context_at(hit.start, hit.end)
        table = kb.contexts.get(context, {})
        concept = table.get(hit.concept, hit.concept)
        if concept is None:
            continue
        status = _status(hit, is_past(hit.start, hit.end), sent.section)
        key = (concept, status, context)
        if key in seen:
            continue
        seen.add(key)
        out.append(make("finding", concept, status, hit, context=context))
        if known is not None and (known.kind == "finding" or named in rules.lesion_conditions):
            lesion_seen = True
    words = _WORD.findall(lowered)
    if any(w in rules.lesion_nouns for w in words):
        lesion_seen = True
    _medications(s, kb, sent, meds, rules, clauses, is_past, make, out)
    out.extend(labs_found)
    mentions.sort()
    # a count in an extraction, imaging or histology sentence is not the lesions'
    elsewhere = any(c not in ("exam", rules.default_context) for _, c, _ in triggers)
    _counts_and_durations(s, sent, rules, kb, lesion_seen, elsewhere, clauses, mentions, out)


_SPAN_WORD = re.compile(r"[ \t-]*(\d+(?:\.\d+)?|[a-z]+)")


def _opens_a_span(lowered: str, pos: int, rules: NoteRules) -> bool:
    """Whether the past cue ending at `pos` opens a span of time up to now: only numbers,
    number, count and duration lead words, then a unit of time ("for the past 5 years", "over
    the last few months", "in the past year"). Such a span says how long, not that it is over;
    "had acne in the past, now clear" stays in the past."""
    while (match := _SPAN_WORD.match(lowered, pos)) is not None:
        word = match.group(1)
        if word in rules.duration_units:
            return True
        if not (
            word[0].isdigit()
            or word in rules.number_words
            or word in rules.count_words
            or word in rules.duration_lead_words
        ):
            return False
        pos = match.end()
    return False


def _reaches_back(s: str, clause_start: int, end: int, trigger: int, rules: NoteRules) -> bool:
    """Whether a context word after a finding (at `end`) still describes it: within a few
    words, and not past a comma that closes a lesion's description ("hard nodules on the
    elbows, one discharging ..."), while "hard, rounded, calcified material on extraction"
    names no lesion and reads on."""
    lowered = s.lower()
    if len(_WORD.findall(lowered, end, trigger)) > rules.context_forward_window:
        return False
    comma = lowered.rfind(",", end, trigger)
    if comma < 0:
        return True
    return not any(w in rules.lesion_nouns for w in _WORD.findall(lowered, clause_start, comma))


def _negation_of_response(
    s: str, hit: Hit, responses: Sequence[Hit], clauses: Sequence[int], rules: NoteRules
) -> Hit:
    """ "No change in the hard papules": the negation belongs to the response, not to them."""
    clause = _clause_of(hit.start, clauses)
    for r in responses:
        if r.end <= hit.start and _clause_of(r.start, clauses) == clause:
            for again in rules.findings.find(s[r.end :]):
                if again.start + r.end == hit.start and again.concept == hit.concept:
                    return Hit(
                        hit.concept,
                        hit.start,
                        hit.end,
                        again.negated,
                        hit.uncertain,
                        hit.other_person,
                    )
    return hit


def _medications(
    s: str,
    kb: Knowledge,
    sent: Sentence,
    meds: Sequence[Hit],
    rules: NoteRules,
    clauses: Sequence[int],
    is_past: Any,
    make: Any,
    out: list[NoteFinding],
) -> None:
    if not meds:
        return
    cues = rules.responses.find(s)
    responses = [h for h in cues if h.concept.startswith("response:")]
    statuses = [h for h in cues if h.concept.startswith("status:")]
    durations = _durations(s, rules, kb)
    done: set[tuple[str, str | None]] = set()
    alone = len(meds) == 1

    def distance(h: Hit, med: Hit) -> int:
        return min(abs(h.start - med.end), abs(med.start - h.end))

    for med in meds:
        clause = _clause_of(med.start, clauses)
        near = [h for h in responses if _clause_of(h.start, clauses) == clause]
        near_status = [h for h in statuses if _clause_of(h.start, clauses) == clause]
        if alone:
            near, near_status = near or responses, near_status or statuses
        response: str | None = None
        if near:
            kinds = {_response_of(h) for h in near}
            if alone and len(kinds) > 1:
                response = "partial"
            else:
                response = _response_of(min(near, key=lambda h: distance(h, med)))
        med_status: str | None = None
        reason = ""
        if near_status:
            best_s = min(near_status, key=lambda h: distance(h, med))
            med_status = best_s.concept.split(":", 1)[1]
            if med_status == "stopped":
                reason = s[best_s.end :].split(";")[0].strip(" ,.:-")
        if med.other_person or sent.section.other_person:
            status = "other-person"
        elif med_status == "not-taken" or (med.negated and response is None):
            status = "negated"
        elif med.uncertain:
            status = "uncertain"
        elif is_past(med.start, med.end) or sent.section.historical or med_status == "stopped":
            status = "historical"
        else:
            status = "affirmed"
        if (med.concept, response) in done:
            continue
        done.add((med.concept, response))
        days = None
        mine = [d for d in durations if _clause_of(d[0], clauses) == clause]
        if mine:
            days = min(mine, key=lambda d: abs(d[0] - med.end))[1]
        out.append(
            make(
                "medication",
                med.concept,
                status,
                med,
                response=response,
                med_status=med_status,
                duration_days=days,
                reason=reason,
            )
        )


def _response_of(h: Hit) -> str:
    response = h.concept.split(":", 1)[1]
    if h.negated and response == "responded":
        return "no response"
    return response


def _labs(
    s: str,
    sent: Sentence,
    kb: Knowledge,
    rules: NoteRules,
    make: Any,
    out: list[NoteFinding],
) -> None:
    taken = [(h.start, h.end) for h in rules.findings.find(s)]
    hits = [h for h in rules.analytes.find(s) if not any(a <= h.start < b for a, b in taken)]
    if not hits:
        return
    flags = rules.flags.find(s)
    starts = sorted(h.start for h in hits)
    done: set[str] = set()
    for hit in hits:
        if hit.concept in done or hit.other_person or sent.section.other_person:
            continue
        next_start = min((p for p in starts if p > hit.start), default=len(s))
        value: float | None = None
        unit: str | None = None
        problem = ""
        flag: str | None = None
        number = _NUMBER.match(s, hit.end)
        analyte = kb.analytes[hit.concept]
        label = s[hit.start : hit.end]
        if number is not None:
            raw = number.group(1).replace(",", ".")
            value = float(raw)
            tail = _UNIT.match(s, number.end())
            written = tail.group(1).rstrip(".") if tail else ""
            if written and _is_unit(kb, written, analyte.unit, analyte.molar_mass):
                unit = kb.units.canonical(written)
            elif analyte.unit is not None:
                shown = f" {written!r}" if written and "/" in written else ""
                problem = (
                    f"{label} {raw}{shown} written in a note without a usable unit; "
                    "the unit is never guessed"
                )
            end_of_value = tail.end() if tail and unit else number.end()
            flag = _flag_in(flags, end_of_value, min(next_start, end_of_value + 14))
        else:
            flag = _flag_in(flags, hit.end, _clause_end(s, hit.end, rules))
            if flag is None:
                flag = _flag_before(flags, hit.start, s)
            if flag is None:
                continue
        done.add(hit.concept)
        out.append(
            make(
                "lab",
                hit.concept,
                "affirmed",
                hit,
                context="lab",
                value=value,
                unit=unit,
                flag=flag,
                problem=problem,
            )
        )


def _is_unit(kb: Knowledge, written: str, target: str | None, molar: float | None) -> bool:
    if target is None:
        return False
    try:
        kb.units.canonical(written)
    except UnitError:
        return False
    return kb.units.is_convertible(written, target, molar)


def _flag_in(flags: Sequence[Hit], lo: int, hi: int) -> str | None:
    for f in flags:
        if lo <= f.start < hi:
            if f.negated and f.concept in ("high", "low", "abnormal"):
                return "normal"
            return f.concept
    return None


def _flag_before(flags: Sequence[Hit], pos: int, s: str) -> str | None:
    for f in flags:
        if f.end <= pos and not re.search(r"[;.]", s[f.end : pos]) and pos - f.end <= 30:
            return f.concept
    return None


def _clause_end(s: str, pos: int, rules: NoteRules) -> int:
    for match in _WORD_OR_SEMI.finditer(s.lower(), pos):
        if match.group(0) in rules.clause_breaks:
            return match.start()
        if match.group(0)[0].isdigit():
            return match.start()
    return len(s)


# the unit is looked at, not consumed, so that every word is tried as a number ("for the past
# four years": "past four" is no duration, "four years" is)
_DURATION = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?|[a-z]+)(?=\s*(?:-|\s)\s*([a-z]+)\b)")


def _durations(s: str, rules: NoteRules, kb: Knowledge) -> list[tuple[int, float]]:
    """(offset, days) of every "<number> <unit of time>" that is not an age."""
    lowered = s.lower()
    out: list[tuple[int, float]] = []
    for match in _DURATION.finditer(lowered):
        number, word = match.group(1), match.group(2)
        unit = rules.duration_units.get(word)
        if unit is None:
            continue
        if number.replace(".", "", 1).isdigit():
            value = float(number)
        elif number in rules.number_words:
            value = float(rules.number_words[number])
        else:
            continue
        after = _WORD.findall(lowered[match.end(2) : match.end(2) + 12])
        before = _WORD.findall(lowered[max(0, match.start() - 8) : match.start()])
        if after and after[0] in rules.duration_not_after:
            continue
        if before and before[-1] in rules.duration_not_before:
            continue
        out.append((match.start(), kb.units.convert_duration_to_days(value, unit)))
    return out


def _lesion_durations(
    s: str,
    rules: NoteRules,
    durations: Sequence[tuple[int, float]],
    clauses: Sequence[int],
    mentions: Sequence[tuple[int, bool]],
) -> list[tuple[int, float]]:
    """The durations that are the lesions': the nearest thing named before a duration in its
    clause (since the previous duration) is a lesion; or, when the duration opens its clause,
    the nearest thing named after it ("for 2 years, hard papules"). "Diabetic on metformin for
    5 years" and "hypertension for 3 years, hard papules for 6 months" give no 5 or 3 years.
    A duration written as a modifier ("a 7-month course of isotretinoin", "a 2-year history of
    hard papules") is that of the next thing named, when nothing but words lies between."""
    out: list[tuple[int, float]] = []
    starts = sorted(p for p, _ in durations)
    lowered = s.lower()
    for pos, days in durations:
        clause = _clause_of(pos, clauses)
        if _MODIFIER.match(lowered, pos):
            ahead = [(p, lesion) for p, lesion in mentions if p > pos]
            if (
                ahead
                and _clause_of(ahead[0][0], clauses) == clause
                and not _PUNCTUATION.search(s, pos, ahead[0][0])
            ):
                if ahead[0][1]:
                    out.append((pos, days))
                continue
        lo = max([clauses[clause], *(p for p in starts if p < pos)])
        before = [lesion for p, lesion in mentions if lo <= p < pos]
        if before:
            if before[-1]:
                out.append((pos, days))
            continue
        lead = set(_WORD.findall(lowered, clauses[clause], pos)) - rules.clause_breaks
        if not lead <= rules.duration_lead_words:
            continue
        hi = min((p for p in starts if p > pos), default=len(s))
        after = [
            lesion for p, lesion in mentions if pos < p < hi and _clause_of(p, clauses) == clause
        ]
        if after and after[0]:
            out.append((pos, days))
    return out


# a duration joined by a hyphen modifies what follows it ("a 7-month course")
_MODIFIER = re.compile(r"(?:\d+(?:\.\d+)?|[a-z]+)-[a-z]+\b")
_PUNCTUATION = re.compile(r"[,;:()\[\]]")


def _counts_and_durations(
    s: str,
    sent: Sentence,
    rules: NoteRules,
    kb: Knowledge,
    lesion_seen: bool,
    elsewhere: bool,
    clauses: Sequence[int],
    mentions: Sequence[tuple[int, bool]],
    out: list[NoteFinding],
) -> None:
    if sent.section.other_person or not lesion_seen:
        return
    status = "historical" if sent.section.historical else "affirmed"
    # a drug's duration is its own: the nearest thing named to a duration decides (mentions)
    durations = _lesion_durations(s, rules, _durations(s, rules, kb), clauses, mentions)
    if durations:
        pos, days = max(durations, key=lambda d: d[1])
        out.append(
            NoteFinding(
                "lesion-duration",
                "lesions",
                status,
                sent.start,
                sent.end,
                s,
                hit_start=sent.start + pos,
                hit_end=sent.start + pos,
                duration_days=round(days, 2),
            )
        )
    if elsewhere:
        return  # a count in an extraction, imaging or histology sentence is not the lesions'
    tokens = [(m.start(), m.group(0)) for m in _WORD.finditer(s.lower())]
    for i, (pos, word) in enumerate(tokens):
        if word not in rules.lesion_nouns or word in ("it", "them"):
            continue
        for back in range(1, 9):
            if i - back < 0:
                break
            prev_pos, prev = tokens[i - back]
            if _COUNT_BREAK.search(s, prev_pos, pos):
                break
            unit = tokens[i - back + 1][1]
            if unit in rules.duration_units and (prev.isdigit() or prev in rules.number_words):
                break  # "for the past 4 years she has had papules": a duration, not a count
            count: int | None = None
            count_text = ""
            if prev.isdigit() and not _is_measure(s, prev_pos, prev):
                count = int(prev)
            elif prev in rules.number_words and prev not in ("a", "an"):
                count = rules.number_words[prev]
            elif prev in rules.count_words:
                count_text = prev
            else:
                continue
            out.append(
                NoteFinding(
                    "lesion-count",
                    "lesions",
                    status,
                    sent.start,
                    sent.end,
                    s,
                    hit_start=sent.start + prev_pos,
                    hit_end=sent.start + pos + len(word),
                    count=count,
                    count_text=count_text,
                )
            )
            return


_COUNT_BREAK = re.compile(r"[;:,]|\.\s|\s-\s")


def _is_measure(s: str, pos: int, digits: str) -> bool:
    """A number followed by a unit of size ("2 mm") or part of a decimal is not a count."""
    after = s[pos + len(digits) : pos + len(digits) + 4].lower()
    return after.startswith(("mm", " mm", "cm", " cm", ".", "-", "x", " x"))
