"""REST endpoints of the registry under /api/registry (tag "registry"), all behind sign-in.

Editable records (patient, lesion, session, follow-up) carry their row version as ETag; a PATCH
must send it back in If-Match (428 without, 412 when the record changed meanwhile). Lists of a
patient's records are whole; the patient list pages by cursor. Every refusal is a FHIR
OperationOutcome.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from calcinosis.registry.fhir_import import is_registry_export
from calcinosis.registry.service import PAGE_MAX
from calcinosis.web import schemas as web_schemas
from calcinosis.web.auth.guard import admin_caller, api_caller
from calcinosis.web.auth.state import Principal
from calcinosis.web.body import JSON_TYPES, read_json_object
from calcinosis.web.context import context_of, parse_as_of
from calcinosis.web.problems import FHIR_JSON, Problem
from calcinosis.web.registry import schemas, serialize
from calcinosis.web.registry.api_kit import (
    decode_cursor,
    encode_cursor,
    fhir_response,
    json_body,
    json_response,
    run,
)
from calcinosis.web.registry.errors import as_problems
from calcinosis.web.registry.etag import if_match_version
from calcinosis.web.registry.page_kit import registry_of

PREFIX = "/api/registry"
Caller = Annotated[Principal, Depends(api_caller)]
AsOf = Annotated[
    str | None,
    Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="The day to judge (default: today)"),
]

_OUTCOME = {FHIR_JSON: {"schema": web_schemas.OUTCOME_SCHEMA}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": why, "content": _OUTCOME}
    for status, why in (
        (400, "Malformed JSON, query or cursor"),
        (401, "Not signed in and no valid API token (WWW-Authenticate says which)"),
        (403, "A signed-in browser's request without its CSRF token"),
        (404, "No such record"),
        (409, "The record exists already, or there is no assessment to plan from"),
        (413, "Body larger than the limit"),
        (415, "Content type is not JSON"),
        (422, "A value is out of range or malformed (the fields are named)"),
        (503, "The registry is not configured or its database is unavailable"),
    )
}
_EDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    412: {"description": "If-Match names an older version: reload, reapply", "content": _OUTCOME},
    428: {"description": "If-Match is missing", "content": _OUTCOME},
}
_BUNDLE_ERRORS = _ERRORS
_BUNDLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A FHIR R4 Bundle about one patient.",
        "content": {t: {"schema": {"type": "object"}} for t in JSON_TYPES},
    }
}


def _body(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _ok(model: type[Any], description: str = "OK", **headers: str) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "description": description}
    if headers:
        out["headers"] = {name: {"description": why} for name, why in headers.items()}
    return out


_ETAG = {"ETag": "The record's version; send it back in If-Match to edit"}


def build_router() -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["registry"])

    # ------------------------------------------------------------------ patients
    @api.get(
        "/patients",
        summary="Patients, oldest registration first, a page at a time",
        responses={200: _ok(schemas.PatientPage), **_ERRORS},
    )
    def list_patients(
        request: Request,
        who: Caller,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        after = decode_cursor(cursor) if cursor else None
        registry = registry_of(request)
        with_next = _sync(registry.patients, actor=who.actor, limit=limit + 1, after=after)
        page, more = with_next[:limit], len(with_next) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
        body = {
            "items": [serialize.patient(p) for p in page],
            "next_cursor": next_cursor,
            "next": f"{PREFIX}/patients?limit={limit}&cursor={next_cursor}" if more else None,
        }
        return json_response(body)

    @api.post(
        "/patients",
        summary="Record a patient from a clinical FHIR Bundle (assessed and stored)",
        openapi_extra=_BUNDLE_BODY,
        status_code=201,
        responses={
            201: _ok(schemas.RecordedOut, "A new patient", ETag=_ETAG["ETag"]),
            200: _ok(schemas.RecordedOut, "The Bundle's identifiers matched a patient"),
            **_BUNDLE_ERRORS,
        },
    )
    async def record_patient(request: Request, who: Caller, as_of: AsOf = None) -> Response:
        day = parse_as_of(as_of)
        bundle = await read_json_object(request, context_of(request).settings.max_bytes)
        if is_registry_export(bundle):
            raise Problem(
                422, "registry-export", f"this is a registry export: POST it to {PREFIX}/import"
            )
        done = await run(registry_of(request).record_bundle, bundle, actor=who.actor, as_of=day)
        return json_response(
            serialize.recorded(done),
            201 if done.created else 200,
            version=done.patient.version,
            location=f"{PREFIX}/patients/{done.patient.id}",
        )

    @api.get(
        "/patients/{patient_id}",
        summary="One patient",
        responses={200: _ok(schemas.PatientOut, **_ETAG), **_ERRORS},
    )
    def get_patient(request: Request, who: Caller, patient_id: str) -> Response:
        record = _sync(registry_of(request).patient, patient_id, actor=who.actor)
        return json_response(serialize.patient(record), version=record.version)

    @api.patch(
        "/patients/{patient_id}",
        summary="Change a patient's sex or birth year (If-Match required)",
        openapi_extra=_body(schemas.PatientPatch),
        responses={200: _ok(schemas.PatientOut, **_ETAG), **_EDIT_ERRORS},
    )
    async def patch_patient(request: Request, who: Caller, patient_id: str) -> Response:
        version = if_match_version(request)
        patch = await json_body(request, schemas.PatientPatch)
        registry = registry_of(request)

        def edit() -> Any:
            current = registry.patient(patient_id, actor=who.actor)
            changed = _apply(current, version, patch)
            return registry.update_patient(changed, actor=who.actor)

        record = await run(edit)
        return json_response(serialize.patient(record), version=record.version)

    # ------------------------------------------------------------------ a patient's records
    @api.get(
        "/patients/{patient_id}/lesions",
        summary="A patient's lesion records",
        responses={200: _ok(schemas.LesionList), **_ERRORS},
    )
    def list_lesions(request: Request, who: Caller, patient_id: str) -> Response:
        file = _sync(registry_of(request).patient_file, patient_id, actor=who.actor)
        return json_response({"items": [serialize.lesion(r) for r in file.lesions]})

    @api.post(
        "/patients/{patient_id}/lesions",
        summary="Record the patient's lesions as examined on a day",
        status_code=201,
        openapi_extra=_body(schemas.LesionIn),
        responses={201: _ok(schemas.LesionOut, **_ETAG), **_ERRORS},
    )
    async def add_lesion(request: Request, who: Caller, patient_id: str) -> Response:
        body = await json_body(request, schemas.LesionIn)
        registry = registry_of(request)
        record = await run(registry.add_lesion, patient_id, actor=who.actor, **body.model_dump())
        return _created(serialize.lesion(record), record.version, f"lesions/{record.id}")

    @api.get(
        "/patients/{patient_id}/procedures",
        summary="A patient's treatment sessions",
        responses={200: _ok(schemas.ProcedureList), **_ERRORS},
    )
    def list_procedures(request: Request, who: Caller, patient_id: str) -> Response:
        file = _sync(registry_of(request).patient_file, patient_id, actor=who.actor)
        return json_response({"items": [serialize.procedure(r) for r in file.procedures]})

    @api.post(
        "/patients/{patient_id}/procedures",
        summary="Record a treatment session (e.g. radiofrequency-assisted extraction)",
        status_code=201,
        openapi_extra=_body(schemas.ProcedureIn),
        responses={201: _ok(schemas.ProcedureOut, **_ETAG), **_ERRORS},
    )
    async def add_procedure(request: Request, who: Caller, patient_id: str) -> Response:
        body = await json_body(request, schemas.ProcedureIn)
        registry = registry_of(request)
        record = await run(
            registry.record_procedure, patient_id, actor=who.actor, **body.model_dump()
        )
        return _created(serialize.procedure(record), record.version, f"procedures/{record.id}")

    @api.get(
        "/patients/{patient_id}/follow-ups",
        summary="A patient's planned reviews and visits",
        responses={200: _ok(schemas.FollowUpList), **_ERRORS},
    )
    def list_follow_ups(request: Request, who: Caller, patient_id: str) -> Response:
        file = _sync(registry_of(request).patient_file, patient_id, actor=who.actor)
        return json_response({"items": [serialize.follow_up(r) for r in file.follow_ups]})

    @api.post(
        "/patients/{patient_id}/follow-ups",
        summary="Record an unplanned visit (complete a planned review with PATCH instead)",
        status_code=201,
        openapi_extra=_body(schemas.FollowUpIn),
        responses={201: _ok(schemas.FollowUpOut, **_ETAG), **_ERRORS},
    )
    async def add_follow_up(request: Request, who: Caller, patient_id: str) -> Response:
        body = await json_body(request, schemas.FollowUpIn)
        registry = registry_of(request)
        record = await run(
            registry.record_follow_up, patient_id, actor=who.actor, **body.model_dump()
        )
        return _created(serialize.follow_up(record), record.version, f"follow-ups/{record.id}")

    @api.get(
        "/patients/{patient_id}/assessments",
        summary="A patient's stored assessments, oldest first",
        responses={200: _ok(schemas.AssessmentList), **_ERRORS},
    )
    def list_assessments(request: Request, who: Caller, patient_id: str) -> Response:
        file = _sync(registry_of(request).patient_file, patient_id, actor=who.actor)
        items = [serialize.assessment_summary(r) for r in file.assessments]
        return json_response({"items": items})

    @api.post(
        "/patients/{patient_id}/assessments",
        summary="Assess a new FHIR Bundle about the patient and store the assessment",
        status_code=201,
        openapi_extra=_BUNDLE_BODY,
        responses={201: _ok(schemas.RecordedOut), **_BUNDLE_ERRORS},
    )
    async def assess(
        request: Request, who: Caller, patient_id: str, as_of: AsOf = None
    ) -> Response:
        day = parse_as_of(as_of)
        bundle = await read_json_object(request, context_of(request).settings.max_bytes)
        done = await run(
            registry_of(request).assess, patient_id, bundle, actor=who.actor, as_of=day
        )
        location = f"{PREFIX}/assessments/{done.assessment.id}"
        return json_response(serialize.recorded(done), 201, location=location)

    @api.get(
        "/patients/{patient_id}/plan",
        summary="Propose sessions and reviews from the latest assessment (nothing is stored)",
        responses={200: _ok(schemas.PlanOut), **_ERRORS},
    )
    def get_plan(
        request: Request,
        who: Caller,
        patient_id: str,
        anchor: AsOf = None,
    ) -> Response:
        registry = registry_of(request)
        plan = _sync(registry.plan, patient_id, actor=who.actor, anchor=parse_as_of(anchor))
        return json_response(serialize.plan(plan))

    @api.post(
        "/patients/{patient_id}/plan",
        summary="Schedule the proposed reviews, replacing the planned reviews not yet done",
        status_code=201,
        openapi_extra=_body(schemas.ScheduleIn),
        responses={201: _ok(schemas.FollowUpList), **_ERRORS},
    )
    async def schedule(request: Request, who: Caller, patient_id: str) -> Response:
        body = await json_body(request, schemas.ScheduleIn)
        registry = registry_of(request)

        def plan_and_schedule() -> Any:
            plan = registry.plan(patient_id, actor=who.actor, anchor=body.anchor)
            return registry.schedule(plan, actor=who.actor)

        stored = await run(plan_and_schedule)
        return json_response({"items": [serialize.follow_up(r) for r in stored]}, 201)

    @api.get(
        "/patients/{patient_id}/timeline",
        summary="The patient's course as dated events",
        responses={200: _ok(schemas.Timeline), **_ERRORS},
    )
    def get_timeline(request: Request, who: Caller, patient_id: str) -> Response:
        events = _sync(registry_of(request).timeline, patient_id, actor=who.actor)
        return json_response({"items": [serialize.event(e) for e in events]})

    # ------------------------------------------------------------------ records by id
    @api.get(
        "/lesions/{lesion_id}",
        summary="One lesion record",
        responses={200: _ok(schemas.LesionOut, **_ETAG), **_ERRORS},
    )
    def get_lesion(request: Request, who: Caller, lesion_id: str) -> Response:
        record = _sync(registry_of(request).lesion, lesion_id, actor=who.actor)
        return json_response(serialize.lesion(record), version=record.version)

    @api.patch(
        "/lesions/{lesion_id}",
        summary="Edit a lesion record (If-Match required)",
        openapi_extra=_body(schemas.LesionPatch),
        responses={200: _ok(schemas.LesionOut, **_ETAG), **_EDIT_ERRORS},
    )
    async def patch_lesion(request: Request, who: Caller, lesion_id: str) -> Response:
        registry = registry_of(request)
        return await _edit(
            request,
            schemas.LesionPatch,
            lambda: registry.lesion(lesion_id, actor=who.actor),
            lambda changed: registry.update_lesion(changed, actor=who.actor),
            serialize.lesion,
        )

    @api.get(
        "/procedures/{procedure_id}",
        summary="One treatment session",
        responses={200: _ok(schemas.ProcedureOut, **_ETAG), **_ERRORS},
    )
    def get_procedure(request: Request, who: Caller, procedure_id: str) -> Response:
        record = _sync(registry_of(request).procedure, procedure_id, actor=who.actor)
        return json_response(serialize.procedure(record), version=record.version)

    @api.patch(
        "/procedures/{procedure_id}",
        summary="Edit a treatment session (If-Match required)",
        openapi_extra=_body(schemas.ProcedurePatch),
        responses={200: _ok(schemas.ProcedureOut, **_ETAG), **_EDIT_ERRORS},
    )
    async def patch_procedure(request: Request, who: Caller, procedure_id: str) -> Response:
        registry = registry_of(request)
        return await _edit(
            request,
            schemas.ProcedurePatch,
            lambda: registry.procedure(procedure_id, actor=who.actor),
            lambda changed: registry.update_procedure(changed, actor=who.actor),
            serialize.procedure,
        )

    @api.get(
        "/follow-ups/{follow_up_id}",
        summary="One planned review or visit",
        responses={200: _ok(schemas.FollowUpOut, **_ETAG), **_ERRORS},
    )
    def get_follow_up(request: Request, who: Caller, follow_up_id: str) -> Response:
        record = _sync(registry_of(request).follow_up, follow_up_id, actor=who.actor)
        return json_response(serialize.follow_up(record), version=record.version)

    @api.patch(
        "/follow-ups/{follow_up_id}",
        summary="Edit a follow-up, e.g. complete a planned review with done_date and its "
        "outcome (If-Match required)",
        openapi_extra=_body(schemas.FollowUpPatch),
        responses={200: _ok(schemas.FollowUpOut, **_ETAG), **_EDIT_ERRORS},
    )
    async def patch_follow_up(request: Request, who: Caller, follow_up_id: str) -> Response:
        registry = registry_of(request)
        return await _edit(
            request,
            schemas.FollowUpPatch,
            lambda: registry.follow_up(follow_up_id, actor=who.actor),
            lambda changed: registry.update_follow_up(changed, actor=who.actor),
            serialize.follow_up,
        )

    @api.get(
        "/assessments/{assessment_id}",
        summary="One stored assessment with its contract JSON",
        responses={200: _ok(schemas.AssessmentOut), **_ERRORS},
    )
    def get_assessment(request: Request, who: Caller, assessment_id: str) -> Response:
        record = _sync(registry_of(request).assessment, assessment_id, actor=who.actor)
        body = {**serialize.assessment_summary(record), "assessment": record.contract()}
        return json_response(body)

    # ------------------------------------------------------------------ clinic-wide
    @api.get(
        "/due",
        summary="Who is due, overdue or lost to follow-up on a day, most urgent first",
        responses={200: _ok(schemas.DueList), **_ERRORS},
    )
    def due(request: Request, who: Caller, as_of: AsOf = None) -> Response:
        day = parse_as_of(as_of) or dt.date.today()
        entries = _sync(registry_of(request).due, day, actor=who.actor)
        return json_response(
            {"as_of": day.isoformat(), "items": [serialize.due_entry(e) for e in entries]}
        )

    @api.get(
        "/overview",
        summary="Patients per follow-up status and the outcomes so far",
        responses={200: _ok(schemas.OverviewOut), **_ERRORS},
    )
    def overview(request: Request, who: Caller, as_of: AsOf = None) -> Response:
        day = parse_as_of(as_of) or dt.date.today()
        seen = _sync(registry_of(request).overview, day, actor=who.actor)
        return json_response(serialize.overview(seen))

    @api.get(
        "/audit",
        summary="The audit trail, oldest first (administrators only)",
        responses={200: _ok(schemas.AuditPage), **_ERRORS},
    )
    def audit_trail(
        request: Request,
        who: Annotated[Principal, Depends(admin_caller)],
        after: Annotated[int, Query(ge=0, le=2**62, description="Entries after this id")] = 0,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    ) -> Response:
        entries = _sync(registry_of(request).audit_trail, actor=who.actor, after=after, limit=limit)
        items = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
            }
            for e in entries
        ]
        more = len(entries) == limit
        following = f"{PREFIX}/audit?after={entries[-1].id}&limit={limit}" if more else None
        return json_response({"items": items, "next": following})

    # ------------------------------------------------------------------ FHIR
    @api.get(
        "/patients/{patient_id}/fhir",
        summary="Export the patient's whole file as a FHIR R4 Bundle (POST it to /import "
        "elsewhere to get the same records back)",
        responses={
            200: {
                "description": "A FHIR R4 collection Bundle",
                "content": {FHIR_JSON: {"schema": {"type": "object"}}},
            },
            **_ERRORS,
        },
    )
    def export(request: Request, who: Caller, patient_id: str) -> Response:
        bundle = _sync(registry_of(request).export_patient, patient_id, actor=who.actor)
        return fhir_response(bundle)

    @api.post(
        "/import",
        summary="Import a registry export unchanged, or record a clinical Bundle",
        status_code=201,
        openapi_extra=_BUNDLE_BODY,
        responses={201: _ok(schemas.ImportedOut), 200: _ok(schemas.ImportedOut), **_BUNDLE_ERRORS},
    )
    async def import_bundle(request: Request, who: Caller, as_of: AsOf = None) -> Response:
        day = parse_as_of(as_of)
        bundle = await read_json_object(request, context_of(request).settings.max_bytes)
        done = await run(registry_of(request).import_bundle, bundle, actor=who.actor, as_of=day)
        return json_response(
            serialize.imported(done),
            201 if done.created else 200,
            location=f"{PREFIX}/patients/{done.patient_id}",
        )

    return api


def _sync(call: Any, *args: Any, **kwargs: Any) -> Any:
    """A registry call from a sync endpoint (already in a worker thread), errors as Problems."""
    with as_problems():
        return call(*args, **kwargs)


async def _edit(
    request: Request,
    schema: Any,
    load: Callable[[], Any],
    update: Callable[[Any], Any],
    show: Callable[[Any], dict[str, Any]],
) -> Response:
    """PATCH of one record: If-Match first, then the body; the patch is applied to the record as
    stored and saved under the version the client named (412 when it is stale)."""
    version = if_match_version(request)
    patch = await json_body(request, schema)
    record = await run(lambda: update(_apply(load(), version, patch)))
    return json_response(show(record), version=record.version)


def _apply(record: Any, version: int, patch: Any) -> Any:
    """The record as of `version` (the If-Match) with the patch's fields applied; the registry
    refuses it if the row is no longer at that version."""
    return dataclasses.replace(record, version=version, **patch.model_dump(exclude_unset=True))


def _created(body: dict[str, Any], version: int, path: str) -> Response:
    return json_response(body, 201, version=version, location=f"{PREFIX}/{path}")
