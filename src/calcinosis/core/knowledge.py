"""Load, validate and index the knowledge base (YAML files inside the package).

Every failure names the file, the field and the reason. Loading is cached per directory, so the
engine pays for YAML parsing once per process.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from calcinosis.core.assessment import Citation
from calcinosis.core.calculations import CkdEpi2021
from calcinosis.core.codes import (
    icd10cm_is_valid,
    loinc_is_valid,
    rxnorm_is_valid,
    snomed_is_valid,
)
from calcinosis.core.notes import (
    HISTORICAL,
    HISTORICAL_AFTER,
    NEGATED_PREFIX,
    NOT_A_FINDING,
    NoteRules,
    Section,
)
from calcinosis.core.text import Cues, PhraseMatcher, tokenize
from calcinosis.core.units import UnitConverter, convert_duration_to_days
from calcinosis.errors import KnowledgeError, UnitError

_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_SIGNAL = re.compile(r"^[a-z0-9][a-z0-9.:\-]*$")
# Concept groups the engine reads by name from rules/classification.yaml.
GROUPS = (
    "connective-tissue-disease",
    "strong-local-cause",
    "calcium-analytes",
    "head-sites",
    "face-sites",
    "acne-sites",
)
EVIDENCE_LEVELS = ("1A", "1B", "2A", "2B", "3", "IV", "IV (single case)", "V")
# Rules the engine names itself in the basis of its calculations (rules/calculations.yaml).
CALCULATION_RULES = (
    "calculation.payne",
    "calculation.calcium-phosphate-product",
    "calculation.ckd-epi-2021",
)
# The warning the engine raises when a clinic note disagrees with the coded record, and the
# fields each of its `details` templates may fill (rules/warnings.yaml).
NOTE_DISAGREEMENT = "warning.note-disagrees"
NOTE_DISAGREEMENT_FIELDS = {
    "finding": frozenset({"note", "coded"}),
    "medication": frozenset({"concept", "note", "coded"}),
    "lab": frozenset({"analyte", "note", "coded", "when"}),
}
# What a signal label must not look like: a signal id ("damage:any") left for the reader.
RAW_SIGNAL = re.compile(r"[a-z0-9][a-z0-9.\-]*:[a-z0-9]")
SIGNAL_TEMPLATES = ("absent", "uncertain")

# libyaml's safe loader when PyYAML was built with it: the same documents, ten times faster
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class When:
    """all / any / none over the engine's signals; an empty `any` means no constraint."""

    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    # the same lists as sets, so a check is a few set operations in C
    _all: frozenset[str] = field(init=False, repr=False, compare=False)
    _any: frozenset[str] = field(init=False, repr=False, compare=False)
    _none: frozenset[str] = field(init=False, repr=False, compare=False)
    _named: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_all", frozenset(self.all))
        object.__setattr__(self, "_any", frozenset(self.any))
        object.__setattr__(self, "_none", frozenset(self.none))
        object.__setattr__(self, "_named", (*self.all, *self.any))

    def holds(self, signals: frozenset[str] | set[str]) -> bool:
        if not signals.isdisjoint(self._none):
            return False
        if not self._all <= signals:
            return False
        return not self._any or not signals.isdisjoint(self._any)

    def met(self, signals: frozenset[str] | set[str]) -> tuple[str, ...]:
        """The signals that made it hold, for the basis."""
        return tuple([s for s in self._named if s in signals])


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    summary: str
    when: When
    citations: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Concept:
    id: str
    label: str
    kind: str
    citations: tuple[str, ...]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Analyte:
    id: str
    label: str
    loinc: tuple[str, ...]
    unit: str | None
    molar_mass: float | None
    low: float | None
    high: float | None
    qualitative: bool
    citations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Threshold:
    id: str
    value: float
    unit: str
    summary: str
    citations: tuple[str, ...]


@dataclass(frozen=True)
class Knowledge:
    """Everything the engine knows, validated and indexed."""

    version: str
    date: str
    directory: str
    citations: Mapping[str, Citation]
    concepts: Mapping[str, Concept]
    codes: Mapping[tuple[str, str], tuple[str, ...]]  # (system key, code) -> concepts
    icd10cm_prefixes: Mapping[str, tuple[str, ...]]
    analytes: Mapping[str, Analyte]
    loinc_to_analyte: Mapping[str, str]
    thresholds: Mapping[str, Threshold]
    payne: Mapping[str, float]
    ckd_epi: CkdEpi2021
    calculation_citations: Mapping[str, tuple[str, ...]]  # payne, ckd-epi-2021
    groups: Mapping[str, tuple[str, ...]]  # named concept or analyte lists the engine reads
    signal_labels: Mapping[str, str]  # every signal a rule names -> how a clinician reads it
    contexts: Mapping[str, Mapping[str, str | None]]
    implies: Mapping[str, tuple[str, ...]]
    exam_labels: Mapping[str, Mapping[str, str]]
    age_labels: Mapping[str, str]
    topical_cues: frozenset[str]
    findings_matcher: PhraseMatcher
    medication_matcher: PhraseMatcher
    analyte_matcher: PhraseMatcher
    units: UnitConverter
    suspicion: Mapping[str, Any]
    classification: Mapping[str, Any]
    differential: tuple[Rule, ...]
    differential_top: int
    workup: tuple[Rule, ...]
    management: tuple[Rule, ...]
    follow_up: tuple[Rule, ...]
    warnings: tuple[Rule, ...]
    missing_data: tuple[Rule, ...]
    rules: Mapping[str, Rule]  # every rule by id, for `knowledge list` and diff
    note_rules: NoteRules  # how clinic notes are read (notes.yaml)

    def threshold(self, key: str) -> float:
        return self.thresholds[key].value

    def clear_caches(self) -> None:
        """Forget what this knowledge base remembered on use (phrase matches, unit conversion
        plans, differential scores), so the next assessment runs cold. Results never depend on
        these caches; timing does."""
        for matcher in (self.findings_matcher, self.medication_matcher, self.analyte_matcher):
            matcher.clear_cache()
        self.units.clear_cache()
        self.derived.clear_memos()

    @functools.cached_property
    def derived(self) -> Derived:
        """Lookups computed from this knowledge base once, on first use (never stale: a
        changed copy made with dataclasses.replace computes its own)."""
        return Derived(self)


@dataclass(frozen=True, slots=True)
class ScoredEntry:
    """A differential entry with its prior and weights as floats, in the data's order.

    `mask` has one bit per signal the entry weighs (see Derived.differential_bits).
    """

    rule: Rule
    label: str
    prior: float
    pro: Mapping[str, float]
    con: Mapping[str, float]
    mask: int


# A differential entry scored for one set of present signals: its sort key (the negated,
# rounded score), the signals for then against it, and its summary.
DifferentialOutcome = tuple[float, tuple[str, ...], str]
# The top of the differential for one set of present signals: per entry, its position in
# Derived.differential, the signals for then against it, and its summary; best first.
DifferentialRanking = tuple[tuple[int, tuple[str, ...], str], ...]

# The section field each plan list reports beside its summary.
PLAN_EXTRA_KEYS = {
    "workup": "would_change",
    "management": "evidence_level",
    "follow_up": "interval",
}


_FIRED_MEMO_SIZE = 4096  # per rule list; a population repeats a few pictures


class RuleList:
    """Rules checked in order against the signals. Which fire, and on which signals, depends
    only on the signals the rules name, so it is remembered per set of those present."""

    __slots__ = ("_memo", "_named", "rules")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self._named = frozenset(
            s for r in rules for part in (r.when.all, r.when.any, r.when.none) for s in part
        )
        self._memo: dict[frozenset[str], tuple[tuple[Rule, tuple[str, ...]], ...]] = {}

    def fired(self, signals: frozenset[str] | set[str]) -> tuple[tuple[Rule, tuple[str, ...]], ...]:
        """The rules that hold, in order, each with the signals that made it hold."""
        present = self._named & signals  # a frozenset, like the left operand
        found = self._memo.get(present)
        if found is None:
            found = tuple((r, r.when.met(present)) for r in self.rules if r.when.holds(present))
            if len(self._memo) < _FIRED_MEMO_SIZE:
                self._memo[present] = found
        return found

    def clear_memo(self) -> None:
        self._memo.clear()


class Derived:
    """What the engine would otherwise recompute for every record: indexes, unit factors and the
    static parts of statements. Everything here follows from the knowledge data alone; the
    memos in it are filled on use and bounded by the size of the knowledge base."""

    def __init__(self, kb: Knowledge) -> None:
        self._kb = kb
        weighed = dict.fromkeys(
            s
            for rule in kb.differential
            for part in ("for", "against")
            for s in _weights(rule, part)
        )
        self.differential_bits = {s: 1 << i for i, s in enumerate(weighed)}
        self.differential_signals = frozenset(weighed)
        bits = self.differential_bits
        self.differential = tuple(
            ScoredEntry(
                rule=rule,
                label=str(rule.data.get("label") or rule.summary),
                prior=float(rule.data.get("prior", 0.0)),
                pro={s: float(w) for s, w in _weights(rule, "for").items()},
                con={s: float(w) for s, w in _weights(rule, "against").items()},
                mask=sum(bits[s] for s in {**_weights(rule, "for"), **_weights(rule, "against")}),
            )
            for rule in kb.differential
        )
        # per entry: the signals it weighs that are present (as bits) -> its scoring
        self.differential_memo: tuple[dict[int, DifferentialOutcome], ...] = tuple(
            {} for _ in self.differential
        )
        # the weighed signals present (as bits) -> the top of the ranking
        self.differential_rankings: dict[int, DifferentialRanking] = {}
        self.differential_slots = tuple(
            zip(
                range(len(self.differential)),
                self.differential,
                self.differential_memo,
                strict=True,
            )
        )
        self.plan_extras: dict[str, tuple[tuple[str, Any], ...]] = {}
        for section, key in PLAN_EXTRA_KEYS.items():
            for rule in getattr(kb, section):
                self.plan_extras[rule.id] = _plan_extra(rule, key)
        # warnings the engine raises itself (`engine: true`) are not matched on signals
        self.signal_warnings = tuple(r for r in kb.warnings if not r.data.get("engine"))
        self.plan_lists = {
            "workup": RuleList(kb.workup),
            "management": RuleList(kb.management),
            "follow_up": RuleList(kb.follow_up),
            "warnings": RuleList(self.signal_warnings),
            "missing_data": RuleList(kb.missing_data),
        }

    # Unit-derived constants, computed when first asked for: a knowledge base need not
    # define every threshold the engine reads on some paths only.
    @functools.cached_property
    def year_days(self) -> float:
        return self._kb.units.convert_duration_to_days(1.0, "a")

    @functools.cached_property
    def neonate_days(self) -> float:
        return self._kb.units.convert_duration_to_days(self._kb.threshold("neonate-age"), "d")

    @functools.cached_property
    def isotretinoin_adequate_days(self) -> float:
        iso = self._kb.thresholds["isotretinoin-adequate-course"]
        return self._kb.units.convert_duration_to_days(iso.value, iso.unit)

    def clear_memos(self) -> None:
        """Forget what was filled on use (for measuring the cold path)."""
        for memo in self.differential_memo:
            memo.clear()
        self.differential_rankings.clear()
        for rules in self.plan_lists.values():
            rules.clear_memo()


def _weights(rule: Rule, part: str) -> Mapping[str, Any]:
    weights = rule.data.get(part) or {}
    return weights if isinstance(weights, Mapping) else {}


def _plan_extra(rule: Rule, key: str) -> tuple[tuple[str, Any], ...]:
    value = rule.data.get(key)
    if isinstance(value, dict):
        value = (
            f"{value['low']}-{value['high']} {value['unit']}"
            if value["low"] != value["high"]
            else f"{value['low']} {value['unit']}"
        )
    return () if value is None else ((key, value),)


DEFAULT_DIRECTORY = "default"


def load_knowledge(directory: str | Path | None = None) -> Knowledge:
    """The shipped knowledge base, or the one in `directory`. Raises KnowledgeError."""
    key = DEFAULT_DIRECTORY if directory is None else str(Path(directory).resolve())
    return _load_cached(key)


@functools.lru_cache(maxsize=8)
def _load_cached(key: str) -> Knowledge:
    if key == DEFAULT_DIRECTORY:
        root = importlib.resources.files("calcinosis") / "knowledge"
        with importlib.resources.as_file(root) as path:
            return _Loader(Path(path)).load()
    return _Loader(Path(key)).load()


class _Loader:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise KnowledgeError(str(root), "(directory)", "not a directory")
        self.root = root
        self.rules: dict[str, Rule] = {}
        self.citations: dict[str, Citation] = {}
        self.named: dict[str, str] = {}  # every signal a rule names -> where it is first named

    # ---------------------------------------------------------------- reading helpers
    def read(self, name: str) -> dict[str, Any]:
        path = self.root / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KnowledgeError(name, "(file)", f"cannot read: {exc.strerror}") from None
        try:
            data = yaml.load(text, Loader=_SAFE_LOADER)
        except yaml.YAMLError as exc:
            raise KnowledgeError(name, "(file)", f"invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise KnowledgeError(name, "(file)", "must hold a mapping at the top level")
        return data

    def cites(self, file: str, where: str, value: Any) -> tuple[str, ...]:
        ids = _str_list(file, f"{where}.citations", value)
        if not ids:
            raise KnowledgeError(file, f"{where}.citations", "every rule must cite a source")
        for cid in ids:
            if cid not in self.citations:
                raise KnowledgeError(file, f"{where}.citations", f"unknown citation {cid!r}")
        return ids

    def when(self, file: str, where: str, value: Any) -> When:
        if value is None:
            return When()
        if not isinstance(value, dict):
            raise KnowledgeError(file, where, "must be a mapping with all/any/none")
        unknown = set(value) - {"all", "any", "none"}
        if unknown:
            raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
        parts = {k: _str_list(file, f"{where}.{k}", value.get(k, [])) for k in value}
        for key, signals in parts.items():
            self.name_signals(file, f"{where}.{key}", signals)
        return When(parts.get("all", ()), parts.get("any", ()), parts.get("none", ()))

    def name_signals(self, file: str, where: str, signals: Any) -> None:
        """Check signal ids a rule names and remember them: each needs a readable label."""
        for s in signals:
            if not isinstance(s, str) or not _SIGNAL.match(s):
                raise KnowledgeError(file, where, f"malformed signal {s!r}")
            self.named.setdefault(s, f"{file}: {where}")

    def rule(self, file: str, where: str, item: Any, allowed: set[str]) -> Rule:
        if not isinstance(item, dict):
            raise KnowledgeError(file, where, "must be a mapping")
        unknown = set(item) - allowed - {"id", "summary", "when", "citations"}
        if unknown:
            raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
        rid = _str(file, f"{where}.id", item.get("id"))
        if not _ID.match(rid):
            raise KnowledgeError(file, f"{where}.id", f"malformed id {rid!r}")
        if rid in self.rules:
            raise KnowledgeError(file, f"{where}.id", f"duplicate rule id {rid!r}")
        rule = Rule(
            id=rid,
            summary=_str(file, f"{where}.summary", item.get("summary", item.get("label"))),
            when=self.when(file, f"{where}.when", item.get("when")),
            citations=self.cites(file, where, item.get("citations")),
            data={k: v for k, v in item.items() if k in allowed},
        )
        self.rules[rid] = rule
        return rule

    def rule_list(self, file: str, key: str, allowed: set[str]) -> tuple[Rule, ...]:
        data = self.read(file)
        items = data.get(key)
        if not isinstance(items, list) or not items:
            raise KnowledgeError(file, key, "must be a non-empty list")
        return tuple(self.rule(file, f"{key}[{i}]", it, allowed) for i, it in enumerate(items))

    # ---------------------------------------------------------------- the whole base
    def load(self) -> Knowledge:
        manifest = self.read("manifest.yaml")
        version = _str("manifest.yaml", "version", manifest.get("version"))
        if not re.match(r"^\d{4}\.\d+\.\d+$", version):
            raise KnowledgeError("manifest.yaml", "version", "must look like 2026.1.0")
        date = _str("manifest.yaml", "date", str(manifest.get("date", "")))
        self.load_citations()
        concepts, codes, prefixes, topical = self.load_value_sets()
        analytes, aliases = self.load_analytes()
        thresholds, payne, ckd, calc_cites = self.load_thresholds()
        ctx = self.read("contexts.yaml")
        self.cites("contexts.yaml", "contexts", ctx.get("citations"))
        text = self.read("text.yaml")
        self.cites("text.yaml", "text", text.get("citations"))
        cues = _cues(text)
        concept_ids = set(concepts)
        contexts = _contexts(ctx, concept_ids)
        implies = {
            k: _str_list("contexts.yaml", f"implies.{k}", v)
            for k, v in _mapping("contexts.yaml", "implies", ctx.get("implies")).items()
        }
        exam_labels = {
            str(k): {str(a): str(b) for a, b in _mapping("contexts.yaml", k, v).items()}
            for k, v in _mapping("contexts.yaml", "exam_labels", ctx.get("exam_labels")).items()
        }
        age_labels = {
            str(k): str(v)
            for k, v in _mapping("contexts.yaml", "age_labels", ctx.get("age_labels")).items()
        }
        findings_syn = {c.id: c.synonyms for c in concepts.values() if c.kind != "medication"}
        med_syn = {c.id: c.synonyms for c in concepts.values() if c.kind == "medication"}
        analyte_syn = {a: self.analyte_synonyms[a] for a in analytes}
        suspicion = self.load_suspicion()
        classification = self.load_classification()
        diff_data = self.read("rules/differential.yaml")
        differential = self.rule_list(
            "rules/differential.yaml", "entries", {"label", "prior", "for", "against"}
        )
        for rule in differential:
            for part in ("for", "against"):
                weights = rule.data.get(part) or {}
                if not isinstance(weights, dict) or not all(
                    isinstance(v, (int, float)) and math.isfinite(v) for v in weights.values()
                ):
                    raise KnowledgeError(
                        "rules/differential.yaml", f"{rule.id}.{part}", "weights must be numbers"
                    )
                self.name_signals("rules/differential.yaml", f"{rule.id}.{part}", list(weights))
        workup = self.rule_list("rules/workup.yaml", "items", {"would_change"})
        management = self.rule_list(
            "rules/management.yaml",
            "options",
            {"evidence_level", "lesions_per_session", "session_interval"},
        )
        for rule in management:
            if rule.data.get("evidence_level") not in EVIDENCE_LEVELS:
                raise KnowledgeError(
                    "rules/management.yaml",
                    f"{rule.id}.evidence_level",
                    f"must be one of {', '.join(EVIDENCE_LEVELS)}",
                )
        follow_up = self.rule_list("rules/follow-up.yaml", "items", {"interval"})
        warnings = self.rule_list("rules/warnings.yaml", "items", {"engine", "details"})
        _check_note_disagreement(self.rules.get(NOTE_DISAGREEMENT))
        if "note-lab-disagreement" not in thresholds:
            raise KnowledgeError("thresholds.yaml", "note-lab-disagreement", "missing")
        missing = self.load_missing()
        self.rule_list("rules/calculations.yaml", "items", set())
        for rid in CALCULATION_RULES:
            if rid not in self.rules:
                raise KnowledgeError(
                    "rules/calculations.yaml", rid, "missing (the engine names it)"
                )
        signal_labels = self.load_signal_labels(concepts)
        note_rules = self.load_notes(text, cues, findings_syn, analyte_syn, contexts, signal_labels)
        return Knowledge(
            version=version,
            date=date,
            directory=str(self.root),
            citations=self.citations,
            concepts=concepts,
            codes=codes,
            icd10cm_prefixes=prefixes,
            analytes=analytes,
            loinc_to_analyte={code: a.id for a in analytes.values() for code in a.loinc},
            thresholds=thresholds,
            payne=payne,
            ckd_epi=ckd,
            calculation_citations=calc_cites,
            groups=self.load_groups(set(concepts) | set(analytes)),
            signal_labels=signal_labels,
            contexts=contexts,
            implies=implies,
            exam_labels=exam_labels,
            age_labels=age_labels,
            topical_cues=topical,
            findings_matcher=PhraseMatcher(findings_syn, cues),
            medication_matcher=PhraseMatcher(med_syn, cues),
            analyte_matcher=PhraseMatcher(analyte_syn, cues),
            units=UnitConverter(aliases),
            suspicion=suspicion,
            classification=classification,
            differential=differential,
            differential_top=int(diff_data.get("report_top", 8)),
            workup=workup,
            management=management,
            follow_up=follow_up,
            warnings=warnings,
            missing_data=missing,
            rules=dict(self.rules),
            note_rules=note_rules,
        )

    def load_notes(
        self,
        text: Mapping[str, Any],
        cues: Cues,
        findings_syn: Mapping[str, tuple[str, ...]],
        analyte_syn: Mapping[str, tuple[str, ...]],
        contexts: Mapping[str, Mapping[str, str | None]],
        signal_labels: Mapping[str, str],
    ) -> NoteRules:
        """notes.yaml: how clinic notes are read (sections, cues, responses, lab words)."""
        file = "notes.yaml"
        data = self.read(file)
        citations = self.cites(file, "notes", data.get("citations"))
        default = _str(file, "default_context", data.get("default_context"))
        known_contexts = set(contexts)
        if default not in known_contexts:
            raise KnowledgeError(file, "default_context", "unknown context")
        sections: dict[str, Section] = {}
        raw_sections = data.get("sections")
        if not isinstance(raw_sections, list):
            raise KnowledgeError(file, "sections", "must be a list")
        for i, item in enumerate(raw_sections):
            where = f"sections[{i}]"
            item = _mapping(file, where, item)
            skip = bool(item.get("skip", False))
            context = str(item.get("context", default))
            if not skip and context not in known_contexts:
                raise KnowledgeError(file, f"{where}.context", f"unknown context {context!r}")
            experiencer = item.get("experiencer")
            if experiencer not in (None, "other"):
                raise KnowledgeError(file, f"{where}.experiencer", "must be 'other'")
            section = Section(
                context,
                experiencer == "other",
                bool(item.get("historical")),
                skip,
                bool(item.get("ends_with_line")),
            )
            for name in _str_list(file, f"{where}.names", item.get("names")):
                key = " ".join(tokenize(name))
                if key in sections:
                    raise KnowledgeError(file, f"{where}.names", f"{name!r} listed twice")
                sections[key] = section

        def groups(key: str, allowed: set[str] | None = None) -> dict[str, tuple[str, ...]]:
            table = _mapping(file, key, data.get(key))
            out: dict[str, tuple[str, ...]] = {}
            for name, phrases in table.items():
                if allowed is not None and name not in allowed:
                    raise KnowledgeError(file, f"{key}.{name}", "unknown target")
                out[str(name)] = tuple(
                    _phrase(p) for p in _str_list(file, f"{key}.{name}", phrases)
                )
            return out

        triggers = groups("context_triggers", known_contexts)
        extra = groups("concepts", set(signal_labels) | set(findings_syn))
        finding_syn: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in findings_syn.items()}
        for concept, phrases in extra.items():
            finding_syn[concept] = finding_syn.get(concept, ()) + phrases
        for concept, phrases in groups("negated_concepts", set(finding_syn)).items():
            finding_syn[NEGATED_PREFIX + concept] = phrases
        finding_syn[NOT_A_FINDING] = tuple(
            _phrase(p) for p in _str_list(file, "not_findings", data.get("not_findings"))
        )
        responses = {
            f"response:{k}": v
            for k, v in groups(
                "treatment_response", {"no response", "partial", "responded"}
            ).items()
        }
        responses.update(
            {
                f"status:{k}": v
                for k, v in groups("treatment_status", {"stopped", "not-taken", "active"}).items()
            }
        )
        flags = groups("lab_flags", {"normal", "high", "low", "abnormal", "positive", "negative"})
        aliases = groups("lab_aliases", set(analyte_syn))
        lab_syn = {a: tuple(analyte_syn[a]) + aliases.get(a, ()) for a in analyte_syn}
        units = groups("duration_units")
        duration_units: dict[str, str] = {}
        for unit, words in units.items():
            try:
                convert_duration_to_days(1.0, unit)
            except UnitError as exc:
                raise KnowledgeError(file, f"duration_units.{unit}", exc.message) from exc
            for word in words:
                duration_units[word] = unit
        lesion_conditions = frozenset(
            _str_list(file, "lesion_conditions", data.get("lesion_conditions"))
        )
        unknown = sorted(lesion_conditions - set(findings_syn))
        if unknown:
            raise KnowledgeError(file, "lesion_conditions", f"unknown concepts {unknown}")
        reach = data.get("context_forward_window")
        if not isinstance(reach, int) or isinstance(reach, bool) or reach < 0:
            raise KnowledgeError(file, "context_forward_window", "must be a whole number")
        numbers = _mapping(file, "number_words", data.get("number_words"))
        if not all(isinstance(v, int) and v >= 0 for v in numbers.values()):
            raise KnowledgeError(file, "number_words", "values must be whole numbers")
        # cues before what they place in the past, and cues after it ("had acne in the past")
        historical = {
            key: tuple(_phrase(p) for p in _str_list(file, name, data.get(name)))
            for key, name in (
                (HISTORICAL, "historical"),
                (HISTORICAL_AFTER, "historical_after"),
            )
        }
        breaks = cues.clause_breaks | frozenset(
            _str_list(file, "termination", data.get("termination"))
        )
        note_cues = Cues(
            negation=cues.negation,
            negation_after=cues.negation_after,
            uncertainty=cues.uncertainty,
            experiencer=cues.experiencer,
            clause_breaks=breaks,
            forward_window=cues.forward_window,
            backward_window=cues.backward_window,
        )
        return NoteRules(
            citations=citations,
            sections=sections,
            default_context=default,
            abbreviations=frozenset(
                w.lower() for w in _str_list(file, "abbreviations", data.get("abbreviations"))
            ),
            findings=PhraseMatcher(finding_syn, note_cues),
            triggers=PhraseMatcher(triggers, note_cues),
            context_forward_window=reach,
            historical=PhraseMatcher(historical, note_cues),
            historical_reach_back=cues.backward_window,
            responses=PhraseMatcher(responses, note_cues),
            flags=PhraseMatcher(flags, note_cues),
            analytes=PhraseMatcher(lab_syn, note_cues),
            clause_breaks=breaks,
            duration_units=duration_units,
            duration_not_after=frozenset(
                _str_list(file, "duration_not_after", data.get("duration_not_after"))
            ),
            duration_not_before=frozenset(
                _str_list(file, "duration_not_before", data.get("duration_not_before"))
            ),
            lesion_conditions=lesion_conditions,
            duration_lead_words=frozenset(
                _str_list(file, "duration_lead_words", data.get("duration_lead_words"))
            ),
            number_words={str(k): int(v) for k, v in numbers.items()},
            count_words=frozenset(
                " ".join(tokenize(w))
                for w in _str_list(file, "count_words", data.get("count_words"))
            ),
            lesion_nouns=frozenset(_str_list(file, "lesion_nouns", data.get("lesion_nouns"))),
        )

    def load_signal_labels(self, concepts: Mapping[str, Concept]) -> dict[str, str]:
        """signals.yaml: a label for every signal the rules name that has none in a value set."""
        file = "signals.yaml"
        data = self.read(file)
        self.cites(file, "signals", data.get("citations"))
        templates = {
            str(k): _str(file, f"templates.{k}", v)
            for k, v in _mapping(file, "templates", data.get("templates")).items()
        }
        for key in set(templates) ^ set(SIGNAL_TEMPLATES):
            why = "unknown template" if key in templates else "missing template"
            raise KnowledgeError(file, f"templates.{key}", why)
        for key, template in templates.items():
            if template.count("{label}") != 1:
                raise KnowledgeError(file, f"templates.{key}", "must hold {label} exactly once")
        labels: dict[str, str] = {}
        for sid, label in _mapping(file, "labels", data.get("labels")).items():
            where = f"labels.{sid}"
            if not isinstance(sid, str) or not _SIGNAL.match(sid):
                raise KnowledgeError(file, where, f"malformed signal {sid!r}")
            if sid in concepts:
                raise KnowledgeError(
                    file, where, "a value-set concept: its label is the value set's"
                )
            label = _str(file, where, label)
            if RAW_SIGNAL.search(label):
                raise KnowledgeError(file, where, f"{label!r} reads like a signal id")
            labels[sid] = label

        def resolve(signal: str) -> str | None:
            if signal in labels:
                return labels[signal]
            if signal in concepts:
                return concepts[signal].label
            prefix, _, base = signal.partition(":")
            if prefix in templates and base:
                text = resolve(base)
                return None if text is None else templates[prefix].replace("{label}", text)
            return None

        resolved: dict[str, str] = {}
        for signal, place in self.named.items():
            text = resolve(signal)
            if text is None:
                raise KnowledgeError(
                    file, "labels", f"{signal!r} (named in {place}) has no readable label"
                )
            resolved[signal] = text
        used = set(self.named)
        used |= {s.partition(":")[2] for s in self.named if s.partition(":")[0] in templates}
        for sid in labels:
            if sid not in used:
                raise KnowledgeError(file, f"labels.{sid}", "no rule names this signal")
        return resolved

    def load_citations(self) -> None:
        file = "citations.yaml"
        items = self.read(file).get("citations")
        if not isinstance(items, list) or not items:
            raise KnowledgeError(file, "citations", "must be a non-empty list")
        for i, item in enumerate(items):
            where = f"citations[{i}]"
            if not isinstance(item, dict):
                raise KnowledgeError(file, where, "must be a mapping")
            unknown = set(item) - {"id", "text", "doi", "pmid", "url"}
            if unknown:
                raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
            cid = _str(file, f"{where}.id", item.get("id"))
            if cid in self.citations:
                raise KnowledgeError(file, f"{where}.id", f"duplicate citation {cid!r}")
            doi = item.get("doi")
            if doi is not None and not re.match(r"^10\.\d{4,9}/\S+$", str(doi)):
                raise KnowledgeError(file, f"{where}.doi", f"malformed DOI {doi!r}")
            pmid = item.get("pmid")
            if pmid is not None and not re.match(r"^\d{1,9}$", str(pmid)):
                raise KnowledgeError(file, f"{where}.pmid", f"malformed PMID {pmid!r}")
            self.citations[cid] = Citation(
                id=cid,
                text=_str(file, f"{where}.text", item.get("text")),
                doi=str(doi) if doi else None,
                pmid=str(pmid) if pmid else None,
                url=str(item["url"]) if item.get("url") else None,
            )

    def load_value_sets(
        self,
    ) -> tuple[
        dict[str, Concept],
        dict[tuple[str, str], tuple[str, ...]],
        dict[str, tuple[str, ...]],
        frozenset[str],
    ]:
        concepts: dict[str, Concept] = {}
        codes: dict[tuple[str, str], list[str]] = {}
        prefixes: dict[str, list[str]] = {}
        topical: set[str] = set()
        folder = self.root / "value-sets"
        files = sorted(p.name for p in folder.glob("*.yaml")) if folder.is_dir() else []
        if not files:
            raise KnowledgeError("value-sets/", "(directory)", "holds no value-set files")
        checks = {
            "icd10cm": icd10cm_is_valid,
            "snomed": snomed_is_valid,
            "loinc": loinc_is_valid,
            "rxnorm": rxnorm_is_valid,
        }
        for name in files:
            file = f"value-sets/{name}"
            data = self.read(file)
            kind = _str(file, "kind", data.get("kind"))
            topical.update(_str_list(file, "topical_cues", data.get("topical_cues", [])))
            for i, item in enumerate(data.get("concepts") or []):
                where = f"concepts[{i}]"
                if not isinstance(item, dict):
                    raise KnowledgeError(file, where, "must be a mapping")
                unknown = set(item) - {"id", "label", "codes", "synonyms", "citations"}
                if unknown:
                    raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
                cid = _str(file, f"{where}.id", item.get("id"))
                if not _ID.match(cid) or cid in concepts:
                    raise KnowledgeError(file, f"{where}.id", f"malformed or duplicate {cid!r}")
                code_map = _mapping(file, f"{cid}.codes", item.get("codes") or {})
                for system, values in code_map.items():
                    listed = _str_list(file, f"{cid}.codes.{system}", values)
                    if system == "icd10cm_prefix":
                        for prefix in listed:
                            if not re.match(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,3})?$", prefix):
                                raise KnowledgeError(
                                    file, f"{cid}.codes.{system}", f"malformed {prefix!r}"
                                )
                            prefixes.setdefault(prefix, []).append(cid)
                        continue
                    check = checks.get(system)
                    if check is None:
                        raise KnowledgeError(file, f"{cid}.codes", f"unknown system {system!r}")
                    for code in listed:
                        if not check(code):
                            raise KnowledgeError(
                                file, f"{cid}.codes.{system}", f"malformed code {code!r}"
                            )
                        codes.setdefault((system, code), []).append(cid)
                synonyms = _str_list(file, f"{cid}.synonyms", item.get("synonyms", []))
                for phrase in synonyms:
                    if not tokenize(phrase.replace("*", "")):
                        raise KnowledgeError(file, f"{cid}.synonyms", f"empty phrase {phrase!r}")
                concepts[cid] = Concept(
                    id=cid,
                    label=_str(file, f"{where}.label", item.get("label")),
                    kind=kind,
                    citations=self.cites(file, cid, item.get("citations")),
                    synonyms=tuple(_phrase(s) for s in synonyms),
                )
        return (
            concepts,
            {k: tuple(v) for k, v in codes.items()},
            {k: tuple(v) for k, v in prefixes.items()},
            frozenset(topical),
        )

    def load_analytes(self) -> tuple[dict[str, Analyte], dict[str, str]]:
        file = "analytes.yaml"
        data = self.read(file)
        self.cites(file, "analytes", data.get("citations"))
        aliases = {
            str(k): str(v)
            for k, v in _mapping(file, "spelling_aliases", data.get("spelling_aliases")).items()
        }
        out: dict[str, Analyte] = {}
        self.analyte_synonyms: dict[str, tuple[str, ...]] = {}
        allowed = {"label", "loinc", "unit", "molar_mass_g_per_mol", "range", "qualitative"}
        allowed |= {"synonyms", "citations"}
        for aid, item in _mapping(file, "analytes", data.get("analytes")).items():
            where = f"analytes.{aid}"
            item = _mapping(file, where, item)
            unknown = set(item) - allowed
            if unknown:
                raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
            loinc = _str_list(file, f"{where}.loinc", item.get("loinc", []))
            for code in loinc:
                if not loinc_is_valid(code):
                    raise KnowledgeError(file, f"{where}.loinc", f"bad LOINC check digit {code!r}")
            rng = _mapping(file, f"{where}.range", item.get("range") or {})
            qualitative = bool(item.get("qualitative", False))
            unit = item.get("unit")
            if not qualitative and not unit:
                raise KnowledgeError(file, f"{where}.unit", "a quantitative analyte needs a unit")
            molar = item.get("molar_mass_g_per_mol")
            if molar is not None and (not isinstance(molar, (int, float)) or molar <= 0):
                raise KnowledgeError(file, f"{where}.molar_mass_g_per_mol", "must be positive")
            out[str(aid)] = Analyte(
                id=str(aid),
                label=_str(file, f"{where}.label", item.get("label")),
                loinc=loinc,
                unit=str(unit) if unit else None,
                molar_mass=float(molar) if molar is not None else None,
                low=_opt_float(file, f"{where}.range.low", rng.get("low")),
                high=_opt_float(file, f"{where}.range.high", rng.get("high")),
                qualitative=qualitative,
                citations=self.cites(file, where, item.get("citations")),
            )
            self.analyte_synonyms[str(aid)] = tuple(
                _phrase(s) for s in _str_list(file, f"{where}.synonyms", item.get("synonyms", []))
            )
        return out, aliases

    def load_thresholds(
        self,
    ) -> tuple[dict[str, Threshold], dict[str, float], CkdEpi2021, dict[str, tuple[str, ...]]]:
        file = "thresholds.yaml"
        data = self.read(file)
        out: dict[str, Threshold] = {}
        for tid, item in _mapping(file, "thresholds", data.get("thresholds")).items():
            where = f"thresholds.{tid}"
            item = _mapping(file, where, item)
            value = item.get("value")
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise KnowledgeError(file, f"{where}.value", "must be a number")
            out[str(tid)] = Threshold(
                id=str(tid),
                value=float(value),
                unit=_str(file, f"{where}.unit", item.get("unit")),
                summary=_str(file, f"{where}.summary", item.get("summary")),
                citations=self.cites(file, where, item.get("citations")),
            )
        calcs = _mapping(file, "calculations", data.get("calculations"))
        payne = dict(_mapping(file, "calculations.payne", calcs.get("payne")))
        cites = {"payne": self.cites(file, "calculations.payne", payne.pop("citations", None))}
        ckd = dict(_mapping(file, "calculations.ckd-epi-2021", calcs.get("ckd-epi-2021")))
        cites["ckd-epi-2021"] = self.cites(
            file, "calculations.ckd-epi-2021", ckd.pop("citations", None)
        )
        try:
            coefficients = CkdEpi2021.from_mapping(ckd)
        except ValueError as exc:
            raise KnowledgeError(file, "calculations.ckd-epi-2021", str(exc)) from None
        if set(payne) != {"factor", "reference_albumin_g_dl"}:
            raise KnowledgeError(file, "calculations.payne", "needs factor, reference_albumin_g_dl")
        return out, {k: float(v) for k, v in payne.items()}, coefficients, cites

    def load_groups(self, known: set[str]) -> dict[str, tuple[str, ...]]:
        file = "rules/classification.yaml"
        data = self.read(file)
        self.cites(file, "groups", data.get("groups_citations"))
        groups = {
            str(name): _str_list(file, f"groups.{name}", members)
            for name, members in _mapping(file, "groups", data.get("groups")).items()
        }
        for name in GROUPS:
            if name not in groups:
                raise KnowledgeError(file, f"groups.{name}", "missing (the engine reads it)")
        for name, members in groups.items():
            for member in members:
                if member not in known:
                    raise KnowledgeError(file, f"groups.{name}", f"unknown concept {member!r}")
        return groups

    def load_suspicion(self) -> dict[str, Any]:
        file = "rules/suspicion.yaml"
        data = self.read(file)
        out: dict[str, Any] = {"applies": self.rule(file, "applies", data.get("applies"), set())}
        for part, extra in (
            ("pillars", {"decisive"}),
            ("supporting", set()),
            ("lowering", {"cap"}),
        ):
            items = data.get(part)
            if not isinstance(items, list) or not items:
                raise KnowledgeError(file, part, "must be a non-empty list")
            out[part] = tuple(
                self.rule(file, f"{part}[{i}]", x, extra) for i, x in enumerate(items)
            )
        levels = _mapping(file, "levels", data.get("levels"))
        for key in ("high_pillars", "moderate_pillars", "moderate_supporting"):
            if not isinstance(levels.get(key), int):
                raise KnowledgeError(file, f"levels.{key}", "must be an integer")
        out["levels"] = dict(levels)
        return out

    def load_classification(self) -> dict[str, Any]:
        file = "rules/classification.yaml"
        data = self.read(file)
        evidence = _mapping(file, "evidence", data.get("evidence"))
        out: dict[str, Any] = {
            name: self.rule(file, f"evidence.{name}", evidence.get(name), set())
            for name in ("confirmed", "likely", "possible")
        }
        alts = data.get("alternatives") or []
        out["alternatives"] = tuple(
            self.rule(file, f"alternatives[{i}]", x, {"explains"}) for i, x in enumerate(alts)
        )
        calci = _mapping(file, "calciphylaxis", data.get("calciphylaxis"))
        out["calciphylaxis-histology"] = self.rule(
            file, "calciphylaxis.histology", calci.get("histology"), set()
        )
        out["calciphylaxis-clinical"] = self.rule(
            file, "calciphylaxis.clinical", calci.get("clinical"), set()
        )
        out["calciphylaxis-skin"] = _str_list(
            file, "calciphylaxis.skin_picture", calci.get("skin_picture")
        )
        out["calciphylaxis-risk"] = _str_list(file, "calciphylaxis.risk", calci.get("risk"))
        self.name_signals(file, "calciphylaxis.skin_picture", out["calciphylaxis-skin"])
        self.name_signals(file, "calciphylaxis.risk", out["calciphylaxis-risk"])
        metabolic = _mapping(file, "metabolic", data.get("metabolic"))
        for name in ("abnormal", "normal", "risk"):
            out[f"metabolic-{name}"] = self.rule(
                file, f"metabolic.{name}", metabolic.get(name), set()
            )
        out["iatrogenic"] = self.rule(file, "iatrogenic", data.get("iatrogenic"), set())
        out["dystrophic"] = self.rule(file, "dystrophic", data.get("dystrophic"), set())
        idio = dict(_mapping(file, "idiopathic", data.get("idiopathic")))
        pattern = self.when(file, "idiopathic.pattern", idio.pop("pattern", None))
        excluded = self.when(file, "idiopathic.excluded", idio.pop("excluded", None))
        out["idiopathic"] = self.rule(file, "idiopathic", idio, set())
        out["idiopathic-pattern"] = pattern
        out["idiopathic-excluded"] = excluded
        return out

    def load_missing(self) -> tuple[Rule, ...]:
        file = "rules/missing-data.yaml"
        items = self.read(file).get("items")
        if not isinstance(items, list) or not items:
            raise KnowledgeError(file, "items", "must be a non-empty list")
        out = []
        for i, item in enumerate(items):
            where = f"items[{i}]"
            item = _mapping(file, where, item)
            unknown = set(item) - {"id", "summary", "would_change", "when"}
            if unknown:
                raise KnowledgeError(file, where, f"unknown keys {sorted(unknown)}")
            out.append(
                Rule(
                    id=_str(file, f"{where}.id", item.get("id")),
                    summary=_str(file, f"{where}.summary", item.get("summary")),
                    when=self.when(file, f"{where}.when", item.get("when")),
                    citations=(),
                    data={
                        "would_change": _str(
                            file, f"{where}.would_change", item.get("would_change")
                        )
                    },
                )
            )
        return tuple(out)


# -------------------------------------------------------------------- small validators
def _str(file: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(file, where, "must be a non-empty string")
    return value


def _opt_float(file: str, where: str, value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise KnowledgeError(file, where, "must be a number")
    return float(value)


def _str_list(file: str, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise KnowledgeError(file, where, "must be a list of non-empty strings")
    return tuple(value)


def _mapping(file: str, where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise KnowledgeError(file, where, "must be a mapping")
    return value


def _phrase(text: str) -> str:
    """Synonyms are matched on tokens: keep a trailing * and turn punctuation into spaces."""
    return " ".join(
        part + ("*" if word.endswith("*") else "")
        for word in text.lower().split()
        for part in tokenize(word.rstrip("*"))
    )


def _cues(text: Mapping[str, Any]) -> Cues:
    file = "text.yaml"

    def phrases(key: str) -> tuple[tuple[str, ...], ...]:
        return tuple(tokenize(p) for p in _str_list(file, key, text.get(key)))

    windows = [text.get("forward_window"), text.get("backward_window")]
    if not all(isinstance(w, int) and w > 0 for w in windows):
        raise KnowledgeError(file, "forward_window/backward_window", "must be positive integers")
    return Cues(
        negation=phrases("negation"),
        negation_after=phrases("negation_after"),
        uncertainty=phrases("uncertainty"),
        experiencer=phrases("experiencer"),
        clause_breaks=frozenset(_str_list(file, "clause_breaks", text.get("clause_breaks"))),
        forward_window=int(text["forward_window"]),
        backward_window=int(text["backward_window"]),
    )


def _contexts(data: Mapping[str, Any], concept_ids: set[str]) -> dict[str, dict[str, str | None]]:
    file = "contexts.yaml"
    out: dict[str, dict[str, str | None]] = {}
    for name, mapping in _mapping(file, "contexts", data.get("contexts")).items():
        table: dict[str, str | None] = {}
        for source, target in _mapping(file, f"contexts.{name}", mapping).items():
            if source not in concept_ids:
                raise KnowledgeError(file, f"contexts.{name}.{source}", "unknown concept")
            table[str(source)] = None if target is None else str(target)
        out[str(name)] = table
    return out


def _check_note_disagreement(rule: Rule | None) -> None:
    """The engine words a note's disagreement with the coded record from the rule's `details`:
    one template per kind of disagreement, each filling only the fields the engine gives it."""
    file = "rules/warnings.yaml"
    if rule is None:
        raise KnowledgeError(file, NOTE_DISAGREEMENT, "missing (the engine names it)")
    details = rule.data.get("details")
    if not isinstance(details, dict) or set(details) != set(NOTE_DISAGREEMENT_FIELDS):
        kinds = ", ".join(NOTE_DISAGREEMENT_FIELDS)
        raise KnowledgeError(file, f"{NOTE_DISAGREEMENT}.details", f"needs exactly {kinds}")
    for kind, template in details.items():
        where = f"{NOTE_DISAGREEMENT}.details.{kind}"
        if not isinstance(template, str):
            raise KnowledgeError(file, where, "must be a string")
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise KnowledgeError(file, where, f"malformed template: {exc}") from None
        unknown = fields - NOTE_DISAGREEMENT_FIELDS[kind]
        if unknown:
            raise KnowledgeError(file, where, f"unknown fields {sorted(unknown)}")
