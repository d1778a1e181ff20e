"""Check CDS Hooks 2.0.1 responses against the spec's rules: no null or empty values anywhere,
and the Card, Source, Suggestion, Action, Link, Coding and discovery shapes.

Each function returns a list of problems ("cards[0].summary: ..."), empty when conformant. The
service checks every response with it before sending (a bug becomes a logged 500, not a bad card
in an EHR), and the tests check it against the spec's and Inferno's valid examples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
USER_TOKENS = (
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
)
# Root-level primitive context fields each hook defines (hook library 1.0.1); only these may be
# prefetch tokens. order-select's selections/draftOrders and order-sign's draftOrders may not.
TOKEN_FIELDS = {
    "patient-view": ("userId", "patientId", "encounterId"),
    "order-select": ("userId", "patientId", "encounterId"),
    "order-sign": ("userId", "patientId", "encounterId"),
}
_TOKEN = re.compile(r"\{\{(.*?)\}\}")
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")
_CARD_KEYS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}
_SOURCE_KEYS = {"label", "url", "icon", "topic", "extension"}
_SUGGESTION_KEYS = {
    "label",
    "uuid",
    "isRecommended",
    "actions",
    "actionSelectionBehavior",
    "extension",
}
_ACTION_KEYS = {"type", "description", "resource", "resourceId", "extension"}
_LINK_KEYS = {"label", "url", "type", "appContext", "autolaunchable", "extension"}
_CODING_KEYS = {"system", "code", "display"}


def empty_values(value: Any, path: str = "$") -> list[str]:
    """Every null, "", [] or {} in a JSON value, by path (the spec forbids them)."""
    # Every response is checked before it is sent and nearly all are clean: the quick look
    # builds no paths, and only a value holding something empty is walked again to name them.
    if not _has_empty(value):
        return []
    return _empty_values(value, path)


def _has_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if isinstance(value, dict):
        value = value.values() if value else None
    elif not isinstance(value, list):
        return False
    return not value or any(map(_has_empty, value))


def _empty_values(value: Any, path: str) -> list[str]:
    if value is None:
        return [f"{path}: null"]
    if isinstance(value, str):
        return [f"{path}: empty string"] if value == "" else []
    if isinstance(value, list):
        found = [f"{path}: empty array"] if not value else []
        for index, item in enumerate(value):
            found += _empty_values(item, f"{path}[{index}]")
        return found
    if isinstance(value, dict):
        found = [f"{path}: empty object"] if not value else []
        for key, item in value.items():
            found += _empty_values(item, f"{path}.{key}")
        return found
    return []


def response_problems(body: Any) -> list[str]:
    """A service response: {"cards": [...]} (empty allowed) and optional systemActions."""
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["$: must be an object with a cards array"]
    problems = [p for p in empty_values(body) if p != "$.cards: empty array"]
    for index, card in enumerate(body["cards"]):
        problems += card_problems(card, f"$.cards[{index}]", check_empty=False)
    for index, action in enumerate(body.get("systemActions", [])):
        problems += _action(action, f"$.systemActions[{index}]", system=True)
    return problems


def card_problems(card: Any, path: str = "card", *, check_empty: bool = True) -> list[str]:
    if not isinstance(card, dict):
        return [f"{path}: must be an object"]
    problems = empty_values(card, path) if check_empty else []
    problems += _unknown(card, _CARD_KEYS, path)
    if "uuid" in card:
        problems += _string(card, "uuid", path)
    problems += _string(card, "summary", path, required=True)
    if isinstance(card.get("summary"), str) and len(card["summary"]) >= 140:
        problems.append(f"{path}.summary: must be shorter than 140 characters")
    if "detail" in card:
        problems += _string(card, "detail", path)
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{path}.indicator: must be one of {', '.join(INDICATORS)}")
    problems += _source(card.get("source"), f"{path}.source")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        problems += _suggestions(card, suggestions, path)
    if "overrideReasons" in card:
        reasons = card["overrideReasons"]
        if not isinstance(reasons, list):
            problems.append(f"{path}.overrideReasons: must be an array of Coding")
        else:
            for index, reason in enumerate(reasons):
                problems += _coding(reason, f"{path}.overrideReasons[{index}]", display=True)
    if "links" in card:
        links = card["links"]
        if not isinstance(links, list):
            problems.append(f"{path}.links: must be an array of Link")
        else:
            for index, link in enumerate(links):
                problems += _link(link, f"{path}.links[{index}]")
    return problems


def discovery_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("services"), list):
        return ["$: must be an object with a services array"]
    problems = [p for p in empty_values(body) if p != "$.services: empty array"]
    for index, service in enumerate(body["services"]):
        path = f"$.services[{index}]"
        if not isinstance(service, dict):
            problems.append(f"{path}: must be an object")
            continue
        for key in ("hook", "description", "id"):
            problems += _string(service, key, path, required=True)
        for key in ("title", "usageRequirements"):
            if key in service:
                problems += _string(service, key, path)
        prefetch = service.get("prefetch")
        if prefetch is not None:
            problems += prefetch_problems(str(service.get("hook")), prefetch, f"{path}.prefetch")
    return problems


def prefetch_problems(hook: str, prefetch: Any, path: str) -> list[str]:
    if not isinstance(prefetch, dict):
        return [f"{path}: must be an object of query strings"]
    allowed = {f"context.{name}" for name in TOKEN_FIELDS.get(hook, ())} | set(USER_TOKENS)
    problems = []
    for key, template in prefetch.items():
        if not isinstance(template, str) or not template:
            problems.append(f"{path}.{key}: must be a query string")
            continue
        if template.count("{{") != template.count("}}"):
            problems.append(f"{path}.{key}: unbalanced {{{{ }}}} in {template!r}")
        for token in _TOKEN.findall(template):
            if token.strip() not in allowed:
                problems.append(f"{path}.{key}: token {{{{{token}}}}} is not allowed for {hook}")
    return problems


def _source(source: Any, path: str) -> list[str]:
    if not isinstance(source, dict):
        return [f"{path}: required object"]
    problems = _unknown(source, _SOURCE_KEYS, path) + _string(source, "label", path, required=True)
    for key in ("url", "icon"):
        if key in source and not _absolute_url(source[key]):
            problems.append(f"{path}.{key}: must be an absolute URL")
    if "topic" in source:
        problems += _coding(source["topic"], f"{path}.topic", display=False)
    return problems


def _suggestions(card: Mapping[str, Any], suggestions: Any, path: str) -> list[str]:
    if not isinstance(suggestions, list):
        return [f"{path}.suggestions: must be an array"]
    problems = []
    behavior = card.get("selectionBehavior")
    if behavior not in SELECTION_BEHAVIORS:
        problems.append(
            f"{path}.selectionBehavior: required with suggestions, one of "
            + ", ".join(SELECTION_BEHAVIORS)
        )
    recommended = 0
    for index, suggestion in enumerate(suggestions):
        where = f"{path}.suggestions[{index}]"
        if not isinstance(suggestion, dict):
            problems.append(f"{where}: must be an object")
            continue
        problems += _unknown(suggestion, _SUGGESTION_KEYS, where)
        problems += _string(suggestion, "label", where, required=True)
        if "uuid" in suggestion:
            problems += _string(suggestion, "uuid", where)
        if "isRecommended" in suggestion:
            if not isinstance(suggestion["isRecommended"], bool):
                problems.append(f"{where}.isRecommended: must be a boolean")
            recommended += suggestion["isRecommended"] is True
        actions = suggestion.get("actions", [])
        if not isinstance(actions, list):
            problems.append(f"{where}.actions: must be an array")
            continue
        for number, action in enumerate(actions):
            problems += _action(action, f"{where}.actions[{number}]", system=False)
    if behavior == "at-most-one" and recommended > 1:
        problems.append(f"{path}: only one suggestion may be recommended with at-most-one")
    return problems


def _action(action: Any, path: str, *, system: bool) -> list[str]:
    if not isinstance(action, dict):
        return [f"{path}: must be an object"]
    problems = _unknown(action, _ACTION_KEYS, path)
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{path}.type: must be one of {', '.join(ACTION_TYPES)}")
    if not system or "description" in action:
        problems += _string(action, "description", path, required=True)
    resource = action.get("resource")
    if kind in ("create", "update") and not (
        isinstance(resource, dict) and isinstance(resource.get("resourceType"), str)
    ):
        problems.append(f"{path}.resource: {kind} needs a FHIR resource")
    if kind == "delete":
        if "resource" in action:
            problems.append(f"{path}.resource: use resourceId for delete (resource is deprecated)")
        if not _RELATIVE_REFERENCE.match(str(action.get("resourceId", ""))):
            problems.append(f"{path}.resourceId: delete needs a relative reference Type/id")
    elif "resourceId" in action:
        problems += _string(action, "resourceId", path)
    return problems


def _link(link: Any, path: str) -> list[str]:
    if not isinstance(link, dict):
        return [f"{path}: must be an object"]
    problems = _unknown(link, _LINK_KEYS, path) + _string(link, "label", path, required=True)
    if not _absolute_url(link.get("url")):
        problems.append(f"{path}.url: must be an absolute URL")
    if link.get("type") not in LINK_TYPES:
        problems.append(f"{path}.type: must be absolute or smart")
    if "appContext" in link:
        problems += _string(link, "appContext", path)
        if link.get("type") == "absolute":
            problems.append(f"{path}.appContext: not allowed on absolute links")
    if "autolaunchable" in link and not isinstance(link["autolaunchable"], bool):
        problems.append(f"{path}.autolaunchable: must be a boolean")
    return problems


def _coding(coding: Any, path: str, *, display: bool) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{path}: must be a Coding object"]
    problems = _unknown(coding, _CODING_KEYS, path)
    problems += _string(coding, "code", path, required=True)
    problems += _string(coding, "system", path, required=True)
    if display or "display" in coding:
        problems += _string(coding, "display", path, required=True)
    return problems


def _string(data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> list[str]:
    if key not in data:
        return [f"{path}.{key}: required"] if required else []
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        return [f"{path}.{key}: must be a non-empty string"]
    return []


def _unknown(data: Mapping[str, Any], allowed: set[str], path: str) -> list[str]:
    if data.keys() <= allowed:
        return []
    return [f"{path}.{key}: unknown field" for key in sorted(set(data) - allowed)]


def _absolute_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
