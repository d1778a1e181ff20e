"""Load and check profiles.yaml: profiles, mixes, fragments and the codes they send.

The generator refuses to start when a fragment is unknown, a profile's expected answer is not a
contract value, or a code is not already in the knowledge value sets / analytes (no invented
codes), so a typo fails at once instead of after a million patients.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from calcinosis.core.knowledge import Knowledge, load_knowledge
from calcinosis.synth.errors import SpecError
from calcinosis.synth.values import is_operator

LEVELS = ("high", "moderate", "low", "not-applicable")
TYPES = ("dystrophic", "metastatic", "idiopathic", "iatrogenic", "calciphylaxis", "none")
TYPES_ALL = (*TYPES, "undetermined")
ITEM_KINDS = {
    "condition": "conditions",
    "medication": "medications",
    "labs": "panels",
    "exam": "exams",
    "histology": "histology",
    "procedure": "procedures",
    "imaging": "imaging",
    "note": "notes",
}
CODE_FIELDS = {"icd10cm": "icd10cm", "snomed": "snomed", "rxnorm": "rxnorm"}
PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Variant:
    """One way a profile presents: its weight, age, extra variables and items."""

    weight: float
    age: tuple[int, int] | None
    age_days: tuple[int, int] | None
    vars: Mapping[str, Any]
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Profile:
    """A planted picture and what a clinician concludes from it."""

    name: str
    summary: str
    level: str
    type: str
    ordinary: bool
    note_only: bool
    background: str
    female: float
    variants: tuple[Variant, ...]

    @property
    def worth_a_look(self) -> bool:
        """High or moderate DCC suspicion, or any calcinosis type (incl. undetermined)."""
        return self.level in ("high", "moderate") or self.type != "none"


@dataclass(frozen=True)
class Spec:
    """profiles.yaml, checked; `data` keeps the fragment libraries as written."""

    data: Mapping[str, Any]
    profiles: Mapping[str, Profile]
    mixes: Mapping[str, tuple[tuple[str, int], ...]]
    knowledge: Knowledge

    def fragment(self, kind: str, name: str) -> Mapping[str, Any]:
        """A named fragment of an item kind (`exam`, `note`, ...)."""
        library: Mapping[str, Any] = self.data.get(ITEM_KINDS[kind]) or {}
        found = library.get(name)
        if not isinstance(found, Mapping):
            raise SpecError(f"profiles.yaml: no {kind} fragment named {name!r}")
        return found

    def panel(self, name: str) -> list[Mapping[str, Any]]:
        """A named laboratory panel: the results drawn together."""
        found = (self.data.get("panels") or {}).get(name)
        if not isinstance(found, list):
            raise SpecError(f"profiles.yaml: no laboratory panel named {name!r}")
        return found


@functools.lru_cache(maxsize=2)
def load_spec(text: str | None = None) -> Spec:
    """The shipped profiles.yaml (or `text`), checked against the shipped knowledge."""
    if text is None:
        text = resources.files("calcinosis.synth").joinpath("profiles.yaml").read_text("utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"profiles.yaml is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError("profiles.yaml must be a mapping")
    kb = load_knowledge()
    profiles = {name: _profile(name, raw) for name, raw in (data.get("profiles") or {}).items()}
    if "ordinary" not in profiles:
        raise SpecError("profiles.yaml: the 'ordinary' profile is required")
    mixes = {name: _mix(name, raw, profiles) for name, raw in (data.get("mixes") or {}).items()}
    spec = Spec(data=data, profiles=profiles, mixes=mixes, knowledge=kb)
    _check_references(spec)
    _check_codes(spec)
    return spec


def _profile(name: str, raw: Any) -> Profile:
    where = f"profiles.{name}"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a mapping")
    expected = raw.get("expected") or {}
    level, kind = expected.get("level"), expected.get("type")
    if level not in LEVELS or kind not in TYPES_ALL:
        raise SpecError(f"{where}.expected: level {level!r} / type {kind!r} not in the contract")
    background = raw.get("background", "none")
    if background not in ("none", "benign", "all"):
        raise SpecError(f"{where}.background must be none, benign or all")
    base_vars = dict(raw.get("vars") or {})
    base_items = tuple(raw.get("items") or ())
    variants: list[Variant] = []
    for i, v in enumerate(raw.get("variants") or [{}]):
        variants.append(
            Variant(
                weight=float(v.get("weight", 1)),
                age=_pair(f"{where}.variants[{i}].age", v.get("age", raw.get("age"))),
                age_days=_pair(f"{where}.variants[{i}].age_days", v.get("age_days")),
                vars={**base_vars, **(v.get("vars") or {})},
                items=base_items + tuple(v.get("items") or ()),
            )
        )
    female = float(raw.get("female", 0.51))
    if not 0 <= female <= 1:
        raise SpecError(f"{where}.female must be a probability")
    return Profile(
        name=name,
        summary=str(raw.get("summary", "")),
        level=level,
        type=kind,
        ordinary=bool(raw.get("ordinary", False)),
        note_only=bool(raw.get("note_only", False)),
        background=background,
        female=female,
        variants=tuple(variants),
    )


def _pair(where: str, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and value[0] <= value[1]):
        raise SpecError(f"{where} must be [low, high]")
    return int(value[0]), int(value[1])


def _mix(name: str, raw: Any, profiles: Mapping[str, Profile]) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"mixes.{name} must map profiles to patients per million")
    unknown = set(raw) - set(profiles)
    if unknown:
        raise SpecError(f"mixes.{name}: unknown profiles {sorted(unknown)}")
    if "ordinary" in raw:
        raise SpecError(f"mixes.{name}: 'ordinary' takes what is left; do not list it")
    total = sum(int(v) for v in raw.values())
    if total > PER_MILLION or any(int(v) < 0 for v in raw.values()):
        raise SpecError(f"mixes.{name}: the rates add up to {total} per million (over a million)")
    pairs = [(str(k), int(v)) for k, v in raw.items()]
    return (*pairs, ("ordinary", PER_MILLION - total))


def _items(items: Any) -> Iterator[tuple[str, Any]]:
    """(kind, reference or inline fragment) of every item, through `one_of`."""
    for item in items:
        if not isinstance(item, Mapping):
            raise SpecError(f"an item must be a mapping, got {item!r}")
        if "one_of" in item:
            for alternative in item["one_of"]:
                yield from _items(alternative)
            continue
        kinds = [k for k in item if k in ITEM_KINDS]
        if len(kinds) != 1 or set(item) - {kinds[0], "p"}:
            raise SpecError(f"an item needs exactly one kind of {sorted(ITEM_KINDS)}: {item!r}")
        yield kinds[0], item[kinds[0]]


def _names(ref: Any) -> Iterator[str]:
    if isinstance(ref, str):
        yield ref
    elif isinstance(ref, Mapping) and set(ref) == {"choice"}:
        for option in ref["choice"]:
            yield from _names(option)
    elif isinstance(ref, Mapping) and isinstance(ref.get("from"), str):
        yield ref["from"]


def _check_references(spec: Spec) -> None:
    for profile in spec.profiles.values():
        for variant in profile.variants:
            for kind, ref in _items(variant.items):
                if kind == "labs":
                    _ = spec.panel(ref) if isinstance(ref, str) else ref
                    continue
                for name in _names(ref):
                    spec.fragment(kind, name)
    for fragment in spec.data.get("exams", {}).values():
        if isinstance(fragment.get("from"), str):
            spec.fragment("exam", fragment["from"])
    for entry in spec.data.get("chronic", {}).values():
        if "panel" in entry:
            spec.panel(entry["panel"])
        if "medication" in entry:
            spec.fragment("medication", entry["medication"])


def _literals(value: Any) -> Iterator[Any]:
    """Every literal a value-language expression can produce."""
    if isinstance(value, Mapping) and is_operator(value):
        if "choice" in value:
            for option in value["choice"]:
                yield from _literals(option)
        elif "p" in value:
            yield from _literals(value.get("value", True))
        return
    yield value


def _walk_codes(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in CODE_FIELDS:
                for literal in _literals(value):
                    yield CODE_FIELDS[key], str(literal)
            else:
                yield from _walk_codes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_codes(item)


def _check_codes(spec: Spec) -> None:
    kb = spec.knowledge
    displays = spec.data.get("codes") or {}
    for library in ("conditions", "medications", "chronic"):
        for system, code in _walk_codes(spec.data.get(library) or {}):
            if (system, code) not in kb.codes:
                raise SpecError(f"{library}: {system} code {code!r} is not in the knowledge")
            if system != "snomed" and code not in (displays.get(system) or {}):
                raise SpecError(f"{library}: {system} code {code!r} has no display in codes")
            if system == "snomed" and code not in (displays.get("snomed") or []):
                raise SpecError(f"{library}: SNOMED CT {code!r} is not listed under codes")
    for name, analyte in (spec.data.get("analytes") or {}).items():
        for system in ("us", "si"):
            loinc = str(analyte[system]["loinc"])
            if kb.loinc_to_analyte.get(loinc) != name:
                raise SpecError(f"analytes.{name}.{system}: LOINC {loinc} is not {name}")
            if loinc not in (displays.get("loinc") or {}):
                raise SpecError(f"analytes.{name}.{system}: LOINC {loinc} has no display")
    egfr = str(spec.data["egfr"]["loinc"])
    if kb.loinc_to_analyte.get(egfr) != "egfr":
        raise SpecError(f"egfr: LOINC {egfr} is not an eGFR code in the knowledge")
