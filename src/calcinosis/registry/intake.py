"""A clinical FHIR Bundle -> what the registry stores about it: the patient's sex, birth year and
identifiers, the lesions the examination describes, and the assessment (contract JSON).

The Bundle goes through the same ingest and engine as `calcinosis.assess_bundle`; only the
Patient's identifiers, which the case does not carry, are read here from the raw resource.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from calcinosis.core.case import Case
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules import assess
from calcinosis.errors import InvalidResourceError
from calcinosis.fhir.ingest import case_from_bundle
from calcinosis.registry.records import Identifier
from calcinosis.registry.validate import check_identifier

MORPHOLOGY_LABEL = "Skin lesion morphology"
"""The exam Observation's code.text for morphology (knowledge/contexts.yaml exam_labels)."""


@dataclass(frozen=True, slots=True)
class LesionDraft:
    site: str
    count: int | None
    size_mm_low: float | None
    size_mm_high: float | None
    morphology: str


@dataclass(frozen=True, slots=True)
class Intake:
    sex: str
    birth_year: int | None
    identifiers: tuple[Identifier, ...]
    lesion: LesionDraft | None
    as_of: dt.date
    knowledge_version: str
    input_sha256: str
    contract_json: str


def read_bundle(bundle: Mapping[str, Any], kb: Knowledge, as_of: dt.date) -> Intake:
    """Ingest and assess `bundle`; raises the contract's InputError subclasses."""
    case = case_from_bundle(bundle, kb)
    assessment = assess(case, kb, as_of)
    return Intake(
        sex=case.sex,
        birth_year=case.birth_date.year if case.birth_date else None,
        identifiers=_identifiers(bundle),
        lesion=_lesion(case, kb),
        as_of=as_of,
        knowledge_version=assessment.knowledge_version,
        input_sha256=input_hash(bundle),
        contract_json=orjson.dumps(assessment.to_dict()).decode(),
    )


def input_hash(bundle: Mapping[str, Any]) -> str:
    """SHA-256 of the Bundle's canonical JSON (sorted keys, no spaces): the same content gives
    the same hash however the file was formatted."""
    try:
        canonical = orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        raise InvalidResourceError("the Bundle holds a value JSON cannot represent") from None
    return hashlib.sha256(canonical).hexdigest()


def _identifiers(bundle: Mapping[str, Any]) -> tuple[Identifier, ...]:
    """Patient.identifier entries that have both a system and a value (others cannot be matched
    safely across systems, so they are not kept)."""
    found: dict[Identifier, None] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
            continue
        if resource.get("active") is False:
            continue
        items = resource.get("identifier") or []
        if not isinstance(items, list):
            raise InvalidResourceError("Patient.identifier must be a list")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidResourceError(f"Patient.identifier[{index}] must be an object")
            system, value = item.get("system"), item.get("value")
            if isinstance(system, str) and isinstance(value, str) and system and value:
                identifier = Identifier(system, value)
                check_identifier(identifier, f"Patient.identifier[{index}]", InvalidResourceError)
                found[identifier] = None
    return tuple(found)


def _lesion(case: Case, kb: Knowledge) -> LesionDraft | None:
    lesions = case.lesions
    prefix = f"{MORPHOLOGY_LABEL}: "
    morphology = next(
        (f.summary[len(prefix) :] for f in lesions.findings if f.summary.startswith(prefix)), ""
    )
    site = lesions.site_text or ", ".join(
        kb.concepts[s].label if s in kb.concepts else s for s in lesions.sites
    )
    draft = LesionDraft(
        site=site.strip(),
        count=lesions.count,
        size_mm_low=lesions.size_mm_low,
        size_mm_high=lesions.size_mm_high,
        morphology=morphology.strip(),
    )
    empty = LesionDraft("", None, None, None, "")
    return None if draft == empty else draft
