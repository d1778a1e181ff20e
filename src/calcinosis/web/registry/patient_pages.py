"""Pages about one patient: record (or import) a patient from a FHIR Bundle, the patient's page
with the course and its timeline, and the forms that record a session, a follow-up visit and the
review plan. Every change is a POST with the session's CSRF token that ends in a redirect (303)
back to the page, so reloading never records twice.

Completing a planned review is an edit: the form carries the version of the review it showed,
and a review changed meanwhile is refused (409) with the page showing it as it is now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from calcinosis.errors import CalcinosisError, InputError
from calcinosis.registry.errors import ConflictError, PlanningError, RegistryError
from calcinosis.registry.models import TECHNIQUE_LABELS
from calcinosis.registry.planning import make_plan
from calcinosis.registry.records import PatientFile
from calcinosis.registry.service import Registry
from calcinosis.registry.timeline import timeline
from calcinosis.web.auth.guard import signed_in
from calcinosis.web.auth.state import Principal
from calcinosis.web.context import context_of, parse_as_of
from calcinosis.web.problems import STATUS_BY_CODE, Problem
from calcinosis.web.registry.case_intake import CASE, case_bundle, form_context
from calcinosis.web.registry.errors import as_problems, problem_of
from calcinosis.web.registry.forms import VISIT, read_follow_up, read_session, review_choice
from calcinosis.web.registry.page_kit import (
    kind_label,
    long_date,
    page,
    patient_label,
    posted_form,
    registry_of,
)
from calcinosis.web.registry.timeline_svg import timeline_svg
from calcinosis.web.ui.case_form import FormInvalid
from calcinosis.web.ui.intake import Submission, human_size, parse_bundle
from calcinosis.web.ui.templating import PRIVATE_HEADERS

Who = Annotated[Principal, Depends(signed_in)]
DONE = {
    "recorded": "The patient was recorded and assessed.",
    "restored": "The patient was imported from a registry export, unchanged.",
    "matched": "The Bundle matched a registered patient: its assessment was added.",
    "session": "The session was recorded.",
    "follow-up": "The follow-up visit was recorded.",
    "plan": "The reviews were scheduled from the plan.",
}
TECHNIQUES = [{"value": "", "label": "Choose a technique"}] + [
    {"value": k, "label": v} for k, v in TECHNIQUE_LABELS.items()
]
RECURRENCE = [
    {"value": "no", "label": "No recurrence"},
    {"value": "yes", "label": "Recurrence"},
    {"value": "", "label": "Not recorded"},
]


def _file(registry: Registry, patient_id: str, who: Principal) -> PatientFile:
    with as_problems():
        return registry.patient_file(patient_id, actor=who.actor)


def patient_context(registry: Registry, file: PatientFile, today: dt.date) -> dict[str, Any]:
    """What the patient page shows, from one read of the patient's file."""
    record = file.patient
    label = patient_label(record.id, record.identifiers)
    events = timeline(file)
    try:
        plan, plan_problem = make_plan(file, registry.knowledge), ""
    except PlanningError as exc:
        plan, plan_problem = None, exc.message
    open_reviews = tuple(
        r for r in file.follow_ups if r.planned_date is not None and r.done_date is None
    )
    latest = file.latest_assessment()
    contract = latest.contract() if latest is not None else {}
    return {
        "file": file,
        "label": label,
        "events": events,
        "svg": timeline_svg(events, title=f"Course of {label}", today=today),
        "plan": plan,
        "plan_problem": plan_problem,
        "open_reviews": open_reviews,
        "review_choices": [
            {
                "value": review_choice(r),
                "label": f"{kind_label(r.kind)}, planned {long_date(r.planned_date)}",
            }
            for r in open_reviews
        ]
        + [{"value": VISIT, "label": "A visit without a planned review"}],
        "latest": latest,
        "suspicion": contract.get("dcc_suspicion", {}).get("level"),
        "calcinosis_type": contract.get("calcinosis", {}).get("type"),
        "techniques": TECHNIQUES,
        "recurrence_options": RECURRENCE,
        "today": today.isoformat(),
    }


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def patient_page(
        request: Request,
        who: Principal,
        file: PatientFile,
        *,
        status: int = 200,
        active: str | None = None,
        values: Mapping[str, list[str]] | None = None,
        errors: Mapping[str, str] | None = None,
        done: str = "",
    ) -> Response:
        context = patient_context(registry_of(request), file, dt.date.today())
        context.update(
            section="patient",
            active=active,
            values=values or {},
            errors=errors or {},
            summary=_summary(active, errors or {}),
            done=DONE.get(done, ""),
        )
        return page(request, who, "registry/patient.html", context, status)

    def new_page(
        request: Request,
        who: Principal,
        *,
        status: int = 200,
        active: str = "new",
        values: Mapping[str, list[str]] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> Response:
        context = {
            **form_context(registry_of(request).knowledge),
            "section": "new",
            "active": active,
            "values": values or {},
            "errors": errors or {},
            "summary": _summary(active, errors or {}),
            "today": dt.date.today().isoformat(),
            "max_size": human_size(context_of(request).settings.max_bytes),
        }
        return page(request, who, "registry/new_patient.html", context, status)

    @router.get("/registry/patients/new")
    def new_patient(request: Request, who: Who) -> Response:
        return new_page(request, who)

    @router.post("/registry/patients")
    async def record_patient(request: Request, who: Who) -> Response:
        sub = await posted_form(request, who)
        if sub.one("mode") == CASE:
            return await record_case(request, who, sub)
        max_bytes = context_of(request).settings.max_bytes
        data = sub.files.get("bundle_file") or sub.one("bundle_json").encode("utf-8")
        errors: dict[str, str] = {}
        try:
            day = parse_as_of(sub.one("as_of")) or dt.date.today()
        except Problem:
            day, errors["as_of"] = dt.date.today(), "Enter the assessment date as YYYY-MM-DD"
        if not data:
            errors["bundle_file"] = "Choose a FHIR Bundle file, or paste the Bundle below"
        if errors:
            return new_page(request, who, status=422, values=sub.fields, errors=errors)
        try:
            bundle = parse_bundle(data, max_bytes)
            registry = registry_of(request)
            done = await anyio.to_thread.run_sync(
                lambda: registry.import_bundle(bundle, actor=who.actor, as_of=day)
            )
        except (InputError, RegistryError) as exc:
            status = _status(exc)
            message = f"The Bundle cannot be recorded: {exc.message}"
            return new_page(
                request, who, status=status, values=sub.fields, errors={"bundle_file": message}
            )
        how = done.how if done.created else "matched"
        return _back(done.patient_id, how)

    async def record_case(request: Request, who: Principal, sub: Submission) -> Response:
        registry = registry_of(request)
        try:
            bundle, day = case_bundle(sub.fields, registry.knowledge, dt.date.today())
            done = await anyio.to_thread.run_sync(
                lambda: registry.import_bundle(bundle, actor=who.actor, as_of=day)
            )
        except FormInvalid as invalid:
            return new_page(
                request, who, status=422, active=CASE, values=sub.fields, errors=invalid.errors
            )
        except (InputError, RegistryError) as exc:
            errors = {"_form": f"The case cannot be recorded: {exc.message}"}
            return new_page(
                request, who, status=_status(exc), active=CASE, values=sub.fields, errors=errors
            )
        return _back(done.patient_id, done.how if done.created else "matched")

    @router.get("/registry/patients/{patient_id}")
    def patient(request: Request, who: Who, patient_id: str, done: str = "") -> Response:
        file = _file(registry_of(request), patient_id, who)
        return patient_page(request, who, file, done=done)

    @router.get("/registry/patients/{patient_id}/fhir")
    def download(request: Request, who: Who, patient_id: str) -> Response:
        with as_problems():
            bundle = registry_of(request).export_patient(patient_id, actor=who.actor)
        headers = {
            **PRIVATE_HEADERS,
            "Content-Disposition": f'attachment; filename="patient-{patient_id}.fhir.json"',
        }
        body = orjson.dumps(bundle, option=orjson.OPT_INDENT_2)
        return Response(body, media_type="application/fhir+json", headers=headers)

    @router.post("/registry/patients/{patient_id}/sessions")
    async def record_session(request: Request, who: Who, patient_id: str) -> Response:
        sub = await posted_form(request, who)
        registry = registry_of(request)
        form, errors = read_session(sub)
        if form is None:
            file = await anyio.to_thread.run_sync(_file, registry, patient_id, who)
            return _refused(patient_page, request, who, file, "session", sub, errors)

        def store() -> None:
            registry.record_procedure(
                patient_id,
                performed_on=form.performed_on,
                technique=form.technique,
                lesions_treated=form.lesions_treated,
                complications=form.complications,
                actor=who.actor,
            )

        return await _stored(patient_page, request, who, patient_id, "session", sub, store)

    @router.post("/registry/patients/{patient_id}/follow-ups")
    async def record_follow_up(request: Request, who: Who, patient_id: str) -> Response:
        sub = await posted_form(request, who)
        registry = registry_of(request)
        file = await anyio.to_thread.run_sync(_file, registry, patient_id, who)
        open_reviews = tuple(
            r for r in file.follow_ups if r.planned_date is not None and r.done_date is None
        )
        form, errors = read_follow_up(sub, open_reviews)
        if form is None:
            return _refused(patient_page, request, who, file, "follow-up", sub, errors)

        def store() -> None:
            review = None
            if form.review_id is not None:
                shown = next(r for r in open_reviews if r.id == form.review_id)
                # the review as the form showed it: a newer version is refused, not overwritten
                review = shown if shown.version == form.review_version else None
                if review is None:
                    raise ConflictError(
                        "this review was changed by someone else after the page was shown; "
                        "check it below and record the visit again",
                        current_version=shown.version,
                    )
            registry.record_follow_up(
                patient_id,
                done_date=form.done_date,
                recurrence=form.recurrence,
                lesion_count=form.lesion_count,
                satisfaction=form.satisfaction,
                review=review,
                actor=who.actor,
            )

        return await _stored(patient_page, request, who, patient_id, "follow-up", sub, store)

    @router.post("/registry/patients/{patient_id}/plan")
    async def schedule(request: Request, who: Who, patient_id: str) -> Response:
        sub = await posted_form(request, who)
        registry = registry_of(request)

        def store() -> None:
            plan = registry.plan(patient_id, actor=who.actor)
            registry.schedule(plan, actor=who.actor)

        return await _stored(patient_page, request, who, patient_id, "plan", sub, store)

    return router


def _summary(active: str | None, errors: Mapping[str, str]) -> dict[str | None, str]:
    """Error summary entries: the field's element id (as _fields.html names it) -> message."""
    return {
        (f"{active}-{name.replace('_', '-')}" if name != "_form" else None): message
        for name, message in errors.items()
    }


def _status(error: CalcinosisError) -> int:
    if isinstance(error, InputError):
        return STATUS_BY_CODE.get(error.code, 422)
    return problem_of(error).status


def _back(patient_id: str, done: str) -> Response:
    return RedirectResponse(f"/registry/patients/{patient_id}?done={done}", status_code=303)


def _refused(
    patient_page: Any,
    request: Request,
    who: Principal,
    file: PatientFile,
    form: str,
    sub: Submission,
    errors: Mapping[str, str],
) -> Response:
    response: Response = patient_page(
        request, who, file, status=422, active=form, values=sub.fields, errors=errors
    )
    return response


async def _stored(
    patient_page: Any,
    request: Request,
    who: Principal,
    patient_id: str,
    form: str,
    sub: Submission,
    store: Any,
) -> Response:
    """Run `store`; on a refusal the page again, with the message and the values kept."""
    registry = registry_of(request)
    try:
        await anyio.to_thread.run_sync(store)
    except RegistryError as exc:
        if exc.code in ("not-found", "database-unavailable", "schema-not-ready"):
            raise problem_of(exc) from None
        status = 409 if isinstance(exc, ConflictError) else _status(exc)
        file = await anyio.to_thread.run_sync(_file, registry, patient_id, who)
        errors = {"_form": exc.message}
        response: Response = patient_page(
            request, who, file, status=status, active=form, values=sub.fields, errors=errors
        )
        return response
    return _back(patient_id, form)
