"""Shell helpers for raw FHIR JSON: references, codings, text and dates."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from calcinosis.errors import InvalidResourceError

# Parsed JSON objects are dicts: naming dict first settles most checks without the slower
# abstract-class lookup, while any other Mapping is still accepted.
MAPPING = (dict, Mapping)

_DATE_CACHE_MAX_CHARS = 40
_ABSENT = object()  # a key that is not there, told apart from one holding null
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T[0-9:.+\-Z]*)?$")


class Resolver:
    """Indexes a Bundle's resources by fullUrl, Type/id and contained #id; knows the patient."""

    def __init__(self) -> None:
        self._items: list[Mapping[str, Any]] = []
        self._by_key: dict[str, Mapping[str, Any]] = {}
        self._ref: dict[int, str] = {}
        self._patient_keys: set[str] = set()

    def add(self, resource: Mapping[str, Any], full_url: str | None) -> None:
        self._items.append(resource)
        rtype = resource["resourceType"]
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            ref = f"{rtype}/{rid}"
            self._by_key[ref] = resource
        else:
            ref = full_url or rtype
        self._ref[id(resource)] = ref
        if full_url:
            self._by_key[full_url] = resource

    def resources(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._items)

    def of_type(self, rtype: str) -> list[Mapping[str, Any]]:
        return [r for r in self._items if r["resourceType"] == rtype]

    def reference_of(self, resource: Mapping[str, Any]) -> str:
        ref = self._ref.get(id(resource))
        return ref if ref is not None else str(resource.get("resourceType", "Resource"))

    def set_patient(self, patient: Mapping[str, Any]) -> None:
        keys = {k for k, v in self._by_key.items() if v is patient}
        self._patient_keys = keys | {self.reference_of(patient)}

    def resolve(self, reference: Any, within: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if not isinstance(reference, str) or not reference:
            return None
        if reference.startswith("#"):
            for item in within.get("contained") or []:
                if isinstance(item, MAPPING) and item.get("id") == reference[1:]:
                    return item
            return None
        if reference in self._by_key:
            return self._by_key[reference]
        tail = "/".join(reference.rstrip("/").split("/")[-2:])
        return self._by_key.get(tail)

    def belongs_to_patient(self, resource: Mapping[str, Any]) -> bool:
        """Resources that name another subject are not this patient's; no subject is fine."""
        subject = resource.get("subject", _ABSENT)
        if subject is _ABSENT:
            subject = resource.get("patient")
        if subject is None:
            return bool(resource["resourceType"] != "Patient")
        if not isinstance(subject, MAPPING):
            raise InvalidResourceError(f"{resource['resourceType']}.subject must be a Reference")
        ref = subject.get("reference")
        if ref is None:
            return True
        if not isinstance(ref, str):
            raise InvalidResourceError(f"{resource['resourceType']}.subject.reference must be text")
        if ref in self._patient_keys:
            return True
        tail = "/".join(ref.rstrip("/").split("/")[-2:])
        return bool(tail in self._patient_keys)


def codings(concept: Any) -> Iterator[tuple[str, str]]:
    """(system, code) pairs of a CodeableConcept, skipping malformed codings."""
    if not isinstance(concept, MAPPING):
        return
    for coding in concept.get("coding") or []:
        if isinstance(coding, MAPPING):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str) and code:
                yield system, code.strip()


def text_of(concept: Any) -> str:
    """The CodeableConcept's text and its codings' displays, joined for text matching."""
    if not isinstance(concept, MAPPING):
        return ""
    text = concept.get("text")
    parts: list[str] = [text] if isinstance(text, str) else []
    for coding in concept.get("coding") or []:
        if isinstance(coding, MAPPING):
            display = coding.get("display")
            if isinstance(display, str):
                parts.append(display)
    return ". ".join(parts)


def first_text(concept: Any) -> str:
    if not isinstance(concept, MAPPING):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text:
        return str(text)
    for coding in concept.get("coding") or []:
        if isinstance(coding, MAPPING):
            display = coding.get("display")
            if isinstance(display, str):
                return str(display)
    return ""


def date_of(value: Any, where: str) -> dt.date:
    """A FHIR date or dateTime as a date (partial dates take the first day)."""
    # only plain, date-sized strings are remembered; anything else is parsed afresh
    remember = type(value) is str and len(value) <= _DATE_CACHE_MAX_CHARS
    parsed = _parse_date(value) if remember else _parse_date.__wrapped__(value)
    if isinstance(parsed, dt.date):
        return parsed
    raise InvalidResourceError(f"{where} {value!r} is {parsed}")


@functools.lru_cache(maxsize=4096)  # a record repeats a few dates many times
def _parse_date(value: Any) -> dt.date | str:
    """The date, or why it is not one (completing "{where} {value!r} is ...")."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if not match:
        return "not a FHIR date"
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return "not a valid date"
