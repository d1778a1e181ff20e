"""Our own URIs in the registry's FHIR (identifier systems, code systems, extensions).

Standard code systems come from `calcinosis.core.codes.CodeSystem` only; these URNs are ours,
spelled once here.
"""

from __future__ import annotations

from enum import StrEnum


class RegistrySystem(StrEnum):
    EXPORT_TAG = "urn:calcinosis:registry"
    """Bundle.meta.tag system; code `registry-export` marks a bundle this registry wrote."""
    CODES = "urn:calcinosis:registry-code"
    """Codes for what we record: lesions, lesion-count, follow-up-review, recurrence, ..."""
    TECHNIQUE = "urn:calcinosis:procedure-technique"
    """Procedure techniques: rf-assisted-extraction, excision, laser, other."""
    KNOWLEDGE_RULE = "urn:calcinosis:knowledge-rule"
    """Knowledge rule ids, e.g. follow-up.recurrence-3-months (what planned a review)."""
    FOLLOW_UP = "urn:calcinosis:follow-up"
    """Identifier linking a follow-up's Appointment and its outcome Observation."""
    INPUT_SHA256 = "urn:calcinosis:input-sha256"
    """Identifier of an assessment's input: SHA-256 of the Bundle's canonical JSON."""
    DEMO = "urn:calcinosis:demo"
    """Identifier of demo data (`calcinosis serve --demo`), e.g. the seed case's patient."""


class Extension(StrEnum):
    CREATED_AT = "urn:calcinosis:fhir:created-at"
    KNOWLEDGE_VERSION = "urn:calcinosis:fhir:knowledge-version"
    ASSESSMENT_JSON = "urn:calcinosis:fhir:assessment-json"
    LESIONS_TREATED = "urn:calcinosis:fhir:lesions-treated"
    FOLLOW_UP_KIND = "urn:calcinosis:fhir:follow-up-kind"


EXPORT_TAG_CODE = "registry-export"
