"""REST API: POST /api/assess and GET /api/knowledge, JSON in and out, errors as
OperationOutcome (see problems.py)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from calcinosis.fhir.export import assessment_to_fhir
from calcinosis.web import schemas
from calcinosis.web.body import JSON_TYPES, read_json_object
from calcinosis.web.context import context_of, parse_as_of
from calcinosis.web.problems import FHIR_JSON, Problem

router = APIRouter(prefix="/api", tags=["assessment"])

_BUNDLE_BODY: dict[str, Any] = {
    "required": True,
    "description": "A FHIR R4 Bundle (any type) about one patient.",
    "content": {
        media_type: {
            "schema": {
                "type": "object",
                "required": ["resourceType"],
                "properties": {
                    "resourceType": {"type": "string", "enum": ["Bundle"]},
                    "type": {"type": "string"},
                    "entry": {"type": "array", "items": {"type": "object"}},
                },
            }
        }
        for media_type in JSON_TYPES
    },
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": why, "content": {FHIR_JSON: {"schema": schemas.OUTCOME_SCHEMA}}}
    for status, why in (
        (400, "Malformed JSON or query"),
        (413, "Body larger than the configured limit"),
        (415, "Content type is not JSON"),
        (422, "Not one patient's FHIR Bundle, or an invalid resource"),
    )
}


@router.post(
    "/assess",
    summary="Assess one patient's FHIR R4 Bundle",
    openapi_extra={"requestBody": _BUNDLE_BODY},
    responses={
        200: {
            "description": "The assessment (contract JSON), or with format=fhir a FHIR Bundle "
            "of a RiskAssessment and a GuidanceResponse.",
            "content": {
                "application/json": {"schema": schemas.ASSESSMENT_SCHEMA},
                FHIR_JSON: {"schema": {"type": "object"}},
            },
        },
        **_ERRORS,
    },
)
async def assess(
    request: Request,
    format: Annotated[
        str, Query(pattern="^(json|fhir)$", description="json (default) or fhir")
    ] = "json",
    as_of: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-\d{2}-\d{2}$",
            description="Date to count ages and durations to (default: today)",
        ),
    ] = None,
) -> Response:
    ctx = context_of(request)
    request.state.service_id = "api-assess"
    day = parse_as_of(as_of)
    try:
        bundle = await read_json_object(request, ctx.settings.max_bytes)
        assessment = ctx.assess(bundle, day)
    except Problem as problem:
        ctx.audit.record(request, "api-assess", problem.code)
        raise
    ctx.audit.record(request, "api-assess", "assessed")
    if format == "fhir":
        document = assessment_to_fhir(
            assessment, subject_reference=f"Patient/{assessment.patient.id}"
        )
        return Response(orjson.dumps(document), media_type=FHIR_JSON)
    return Response(orjson.dumps(assessment.to_dict()), media_type="application/json")


@router.get(
    "/knowledge",
    summary="Knowledge base version and citations",
    responses={200: {"content": {"application/json": {"schema": schemas.KNOWLEDGE_SCHEMA}}}},
    response_class=Response,
)
async def knowledge(request: Request) -> Response:
    kb = context_of(request).knowledge
    body = {
        "version": kb.version,
        "date": kb.date,
        "citations": [kb.citations[cid].to_dict() for cid in sorted(kb.citations)],
    }
    return Response(orjson.dumps(body), media_type="application/json")
