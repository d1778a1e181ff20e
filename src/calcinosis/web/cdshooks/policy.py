"""The card policy (knowledge/cds.yaml): services, headlines, urgency, override reasons and the
isotretinoin-ordering rule, validated against the knowledge when the app starts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from calcinosis.core.assessment import CALCINOSIS_TYPES, SUSPICION_LEVELS
from calcinosis.core.knowledge import Knowledge
from calcinosis.errors import KnowledgeError

FILE = "cds.yaml"
HOOKS = ("patient-view", "order-select", "order-sign")
INDICATORS = ("info", "warning", "critical")
SUMMARY_LIMIT = 140
_ID = re.compile(r"^[a-z0-9][a-z0-9\-]*$")


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Headline:
    id: str
    indicator: str
    summary: str
    suspicion: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()

    def matches(self, suspicion: str, ctype: str, warnings: set[str]) -> bool:
        return suspicion in self.suspicion or ctype in self.types or bool(self.warnings & warnings)


@dataclass(frozen=True, slots=True)
class Quiet:
    suspicion: frozenset[str]
    types: frozenset[str]
    warnings: frozenset[str]


@dataclass(frozen=True, slots=True)
class IsotretinoinRule:
    id: str
    drug: str
    suspicion: frozenset[str]
    resisted_rule: str
    indicator: str
    summary: str
    why: str
    remove_label: str
    remove_description: str
    citations: tuple[str, ...]
    override_reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class CardPolicy:
    source_label: str
    topic: Reason
    topic_system: str
    reason_system: str
    services: tuple[Service, ...]
    usage_requirements: str
    quiet: Quiet
    headlines: tuple[Headline, ...]
    fallback: Headline
    override_reasons: tuple[Reason, ...]
    isotretinoin: IsotretinoinRule

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)


def load_policy(kb: Knowledge, path: Path | None = None) -> CardPolicy:
    """cds.yaml from the knowledge directory (or `path`). Raises KnowledgeError."""
    source = path or Path(kb.directory) / FILE
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnowledgeError(FILE, "(file)", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KnowledgeError(FILE, "(file)", f"invalid YAML: {exc}") from None
    top = _mapping("(file)", data)
    _only(
        "(file)",
        top,
        {"source", "systems", "services", "usage_requirements", "patient_view"}
        | {"isotretinoin_orders"},
    )
    source_data = _mapping("source", top.get("source"))
    systems = _mapping("systems", top.get("systems"))
    view = _mapping("patient_view", top.get("patient_view"))
    _only("patient_view", view, {"quiet", "headlines", "fallback", "override_reasons"})
    return CardPolicy(
        source_label=_text("source.label", source_data.get("label")),
        topic=_reason("source.topic", source_data.get("topic")),
        topic_system=_text("systems.topic", systems.get("topic")),
        reason_system=_text("systems.override_reason", systems.get("override_reason")),
        services=_services(top.get("services")),
        usage_requirements=_text("usage_requirements", top.get("usage_requirements")),
        quiet=_quiet(kb, view.get("quiet")),
        headlines=tuple(
            _headline(kb, f"patient_view.headlines[{i}]", item)
            for i, item in enumerate(_list("patient_view.headlines", view.get("headlines")))
        ),
        fallback=_headline(kb, "patient_view.fallback", view.get("fallback"), needs_when=False),
        override_reasons=_reasons("patient_view.override_reasons", view.get("override_reasons")),
        isotretinoin=_isotretinoin(kb, top.get("isotretinoin_orders")),
    )


def _services(value: Any) -> tuple[Service, ...]:
    services = []
    for i, item in enumerate(_list("services", value)):
        where = f"services[{i}]"
        item = _mapping(where, item)
        _only(where, item, {"id", "hook", "title", "description"})
        sid = _text(f"{where}.id", item.get("id"))
        if not _ID.match(sid):
            raise KnowledgeError(FILE, f"{where}.id", f"malformed id {sid!r}")
        hook = _text(f"{where}.hook", item.get("hook"))
        if hook not in HOOKS:
            raise KnowledgeError(FILE, f"{where}.hook", f"must be one of {', '.join(HOOKS)}")
        services.append(
            Service(
                sid,
                hook,
                _text(f"{where}.title", item.get("title")),
                _text(f"{where}.description", item.get("description")),
            )
        )
    if sorted(s.hook for s in services) != sorted(HOOKS):
        raise KnowledgeError(FILE, "services", f"needs exactly one service for each of {HOOKS}")
    if len({s.id for s in services}) != len(services):
        raise KnowledgeError(FILE, "services", "service ids must be unique")
    return tuple(services)


def _quiet(kb: Knowledge, value: Any) -> Quiet:
    where = "patient_view.quiet"
    data = _mapping(where, value)
    _only(where, data, {"suspicion", "types", "warnings"})
    return Quiet(
        suspicion=_members(f"{where}.suspicion", data.get("suspicion"), SUSPICION_LEVELS),
        types=_members(f"{where}.types", data.get("types"), CALCINOSIS_TYPES),
        warnings=_members(f"{where}.warnings", data.get("warnings"), _warning_ids(kb)),
    )


def _headline(kb: Knowledge, where: str, value: Any, *, needs_when: bool = True) -> Headline:
    data = _mapping(where, value)
    _only(where, data, {"id", "indicator", "summary"} | ({"when"} if needs_when else set()))
    hid = _text(f"{where}.id", data.get("id"))
    if not _ID.match(hid):
        raise KnowledgeError(FILE, f"{where}.id", f"malformed id {hid!r}")
    indicator = _text(f"{where}.indicator", data.get("indicator"))
    if indicator not in INDICATORS:
        raise KnowledgeError(FILE, f"{where}.indicator", f"must be one of {INDICATORS}")
    headline = Headline(hid, indicator, _summary(f"{where}.summary", data.get("summary")))
    if not needs_when:
        return headline
    when = _mapping(f"{where}.when", data.get("when"))
    _only(f"{where}.when", when, {"suspicion", "types", "warnings"})
    matched = Headline(
        hid,
        indicator,
        headline.summary,
        suspicion=_members(f"{where}.when.suspicion", when.get("suspicion"), SUSPICION_LEVELS),
        types=_members(f"{where}.when.types", when.get("types"), CALCINOSIS_TYPES),
        warnings=_members(f"{where}.when.warnings", when.get("warnings"), _warning_ids(kb)),
    )
    if not (matched.suspicion or matched.types or matched.warnings):
        raise KnowledgeError(FILE, f"{where}.when", "must name a suspicion level, type or warning")
    return matched


def _isotretinoin(kb: Knowledge, value: Any) -> IsotretinoinRule:
    where = "isotretinoin_orders"
    data = _mapping(where, value)
    _only(
        where,
        data,
        {"id", "drug", "suspicion", "resisted_rule", "indicator", "summary", "why", "remove"}
        | {"citations", "override_reasons"},
    )
    drug = _text(f"{where}.drug", data.get("drug"))
    concept = kb.concepts.get(drug)
    if concept is None or concept.kind != "medication":
        raise KnowledgeError(FILE, f"{where}.drug", f"{drug!r} is not a medication concept")
    rule = _text(f"{where}.resisted_rule", data.get("resisted_rule"))
    if rule not in kb.rules:
        raise KnowledgeError(FILE, f"{where}.resisted_rule", f"unknown rule {rule!r}")
    indicator = _text(f"{where}.indicator", data.get("indicator"))
    if indicator not in INDICATORS:
        raise KnowledgeError(FILE, f"{where}.indicator", f"must be one of {INDICATORS}")
    suspicion = _members(f"{where}.suspicion", data.get("suspicion"), SUSPICION_LEVELS)
    if not suspicion:
        raise KnowledgeError(FILE, f"{where}.suspicion", "must name at least one level")
    citations = tuple(_list(f"{where}.citations", data.get("citations")))
    for cid in citations:
        if cid not in kb.citations:
            raise KnowledgeError(FILE, f"{where}.citations", f"unknown citation {cid!r}")
    remove = _mapping(f"{where}.remove", data.get("remove"))
    hid = _text(f"{where}.id", data.get("id"))
    if not _ID.match(hid):
        raise KnowledgeError(FILE, f"{where}.id", f"malformed id {hid!r}")
    return IsotretinoinRule(
        id=hid,
        drug=drug,
        suspicion=suspicion,
        resisted_rule=rule,
        indicator=indicator,
        summary=_summary(f"{where}.summary", data.get("summary")),
        why=" ".join(_text(f"{where}.why", data.get("why")).split()),
        remove_label=_text(f"{where}.remove.label", remove.get("label")),
        remove_description=_text(f"{where}.remove.description", remove.get("description")),
        citations=citations,
        override_reasons=_reasons(f"{where}.override_reasons", data.get("override_reasons")),
    )


def _reasons(where: str, value: Any) -> tuple[Reason, ...]:
    reasons = tuple(_reason(f"{where}[{i}]", x) for i, x in enumerate(_list(where, value)))
    if len({r.code for r in reasons}) != len(reasons):
        raise KnowledgeError(FILE, where, "codes must be unique")
    return reasons


def _reason(where: str, value: Any) -> Reason:
    data = _mapping(where, value)
    _only(where, data, {"code", "display"})
    return Reason(
        _text(f"{where}.code", data.get("code")), _text(f"{where}.display", data.get("display"))
    )


def _warning_ids(kb: Knowledge) -> tuple[str, ...]:
    return tuple(rule.id for rule in kb.warnings)


def _members(where: str, value: Any, allowed: tuple[str, ...]) -> frozenset[str]:
    items = _list(where, value) if value is not None else []
    for item in items:
        if item not in allowed:
            raise KnowledgeError(FILE, where, f"unknown value {item!r}")
    return frozenset(items)


def _summary(where: str, value: Any) -> str:
    text = _text(where, value)
    if len(text) >= SUMMARY_LIMIT:
        raise KnowledgeError(FILE, where, f"must be shorter than {SUMMARY_LIMIT} characters")
    return text


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise KnowledgeError(FILE, where, "must be a non-empty string")
    return value.strip()


def _list(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise KnowledgeError(FILE, where, "must be a non-empty list")
    return value


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise KnowledgeError(FILE, where, "must be a mapping")
    return value


def _only(where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise KnowledgeError(FILE, where, f"unknown keys {sorted(unknown)}")
