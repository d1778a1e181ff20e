"""JSON Schemas of what the API returns, for the OpenAPI document.

They describe docs/interface.md's assessment object; a test validates real responses against
them so the published document cannot drift from what the service sends.
"""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_STR_LIST = {"type": "array", "items": _STR}

BASIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["findings", "rules", "citations"],
    "properties": {
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["reference", "summary"],
                "properties": {"reference": _STR, "summary": _STR},
            },
        },
        "rules": _STR_LIST,
        "citations": {**_STR_LIST, "minItems": 1},
    },
}


def _statement(*required: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["summary", "basis", *required],
        "properties": {"summary": _STR, "basis": BASIS_SCHEMA, **extra},
    }


_ITEM = _statement("id", id=_STR)

ASSESSMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "knowledge_version",
        "patient",
        "dcc_suspicion",
        "calcinosis",
        "differential",
        "calculations",
        "workup",
        "management",
        "follow_up",
        "warnings",
        "missing_data",
        "citations",
    ],
    "properties": {
        "knowledge_version": _STR,
        "as_of": _STR,
        "patient": {
            "type": "object",
            "required": ["id", "sex"],
            "properties": {"id": _STR, "sex": _STR, "age_years": {"type": "integer"}},
        },
        "dcc_suspicion": _statement(
            "level", level={"enum": ["high", "moderate", "low", "not-applicable"]}
        ),
        "calcinosis": _statement(
            "type",
            type={
                "enum": [
                    "dystrophic",
                    "metastatic",
                    "idiopathic",
                    "iatrogenic",
                    "calciphylaxis",
                    "none",
                    "undetermined",
                ]
            },
        ),
        "differential": {
            "type": "array",
            "items": _statement(
                "id", "label", "rank", id=_STR, label=_STR, rank={"type": "integer", "minimum": 1}
            ),
        },
        "calculations": {
            "type": "array",
            "items": _statement(
                "id", "value", "unit", id=_STR, value={"type": "number"}, unit=_STR
            ),
        },
        "workup": {"type": "array", "items": _ITEM},
        "management": {"type": "array", "items": _ITEM},
        "follow_up": {"type": "array", "items": _ITEM},
        "warnings": {"type": "array", "items": _ITEM},
        "missing_data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "summary"],
                "properties": {"id": _STR, "summary": _STR, "would_change": _STR},
            },
        },
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "text"],
                "properties": {"id": _STR, "text": _STR, "doi": _STR, "pmid": _STR, "url": _STR},
            },
        },
    },
}

OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {"severity": _STR, "code": _STR, "details": {"type": "object"}},
            },
        },
    },
}

KNOWLEDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "date", "citations"],
    "properties": {
        "version": _STR,
        "date": _STR,
        "citations": ASSESSMENT_SCHEMA["properties"]["citations"],
    },
}
