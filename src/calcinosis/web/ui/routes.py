"""The pages: home with its three ways in, POST /assess, the report and its PDF.

An assessment made here is stored and the browser is sent (303) to `/report/{id}`, so reloading
the report never posts again. Input errors are shown on the home page with the values kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import anyio
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from calcinosis.errors import InputError
from calcinosis.web.context import AppContext
from calcinosis.web.problems import STATUS_BY_CODE, Problem
from calcinosis.web.ui import form_spec
from calcinosis.web.ui.case_form import FormInvalid, read_as_of, read_case_form
from calcinosis.web.ui.form_bundle import bundle_from_form
from calcinosis.web.ui.intake import Submission, human_size, parse_bundle, read_submission
from calcinosis.web.ui.pdf import render_report_pdf
from calcinosis.web.ui.templating import PRIVATE_HEADERS, render_page
from calcinosis.web.ui.view import ReportView, report_view

SERVICE = "web-assess"
FORM_ERROR = "_form"
"""Errors key for a problem that belongs to no single field."""
_JSON_FIELDS = {"upload": "bundle_file", "paste": "bundle_json"}
_JSON_WHAT = {"upload": "The uploaded file", "paste": "The pasted JSON"}
_MODE_SOURCE = {"upload": "upload", "paste": "paste", "case": "form"}
# At most this many PDFs render at once: rendering is CPU-bound and memory-hungry.
_PDF_SLOTS = 2


def build_router(ctx: AppContext) -> APIRouter:
    spec = form_spec.FormSpec.from_knowledge(ctx.knowledge)
    router = APIRouter(include_in_schema=False)
    pdf_limiter = anyio.CapacityLimiter(_PDF_SLOTS)

    def home_page(
        request: Request,
        status: int = 200,
        active: str | None = None,
        values: Mapping[str, list[str]] | None = None,
        errors: Mapping[str, str] | None = None,
    ) -> Response:
        errors = errors or {}
        summary = [
            (None if name == FORM_ERROR else f"#{active}-{name.replace('_', '-')}", message)
            for name, message in errors.items()
        ]
        context = {
            "active": active,
            "values": values or {},
            "errors": errors,
            "summary_errors": summary,
            "today": dt.date.today().isoformat(),
            "max_size": human_size(ctx.settings.max_bytes),
            "spec": spec,
            "opts": form_spec,
        }
        return render_page(request, "home.html", context, status, private=values is not None)

    def stored_view(report_id: str) -> ReportView:
        stored = ctx.reports.get(report_id)
        if stored is None:
            raise Problem(404, "report-not-found", "No report has this id; it may have expired.")
        return report_view(stored, ctx.knowledge)

    def refuse(request: Request, outcome: str) -> None:
        ctx.audit.record(request, SERVICE, outcome)

    def done(request: Request, source: str, bundle: dict[str, Any], day: dt.date) -> Response:
        assessment = ctx.assess(bundle, day)
        stored = ctx.reports.add(assessment, source)
        ctx.audit.record(request, SERVICE, "assessed")
        return RedirectResponse(f"/report/{stored.id}", status_code=303)

    async def assess_json(request: Request, mode: str, sub: Submission) -> Response:
        name = _JSON_FIELDS[mode]
        day, errors = read_as_of(sub.fields, dt.date.today())
        data = sub.files.get(name) if mode == "upload" else sub.one(name).encode("utf-8")
        if not data:
            errors[name] = (
                "Choose a FHIR Bundle file to upload"
                if mode == "upload"
                else "Paste a FHIR Bundle (JSON) into the box"
            )
        if errors:
            refuse(request, "invalid-form")
            return home_page(request, 422, mode, sub.fields, errors)
        assert data is not None
        try:
            bundle = parse_bundle(data, ctx.settings.max_bytes)
            return done(request, _MODE_SOURCE[mode], bundle, day)
        except (InputError, Problem) as exc:
            code = exc.code
            status = exc.status if isinstance(exc, Problem) else STATUS_BY_CODE.get(code, 422)
            refuse(request, code)
            message = f"{_JSON_WHAT[mode]} cannot be assessed: {exc.message}"
            return home_page(request, status, mode, sub.fields, {name: message})

    async def assess_case(request: Request, sub: Submission) -> Response:
        try:
            form = read_case_form(sub.fields, spec, dt.date.today())
        except FormInvalid as invalid:
            refuse(request, "invalid-form")
            return home_page(request, 422, "case", sub.fields, invalid.errors)
        try:
            return done(request, "form", bundle_from_form(form, ctx.knowledge), form.as_of)
        except Problem as problem:
            refuse(request, problem.code)
            errors = {FORM_ERROR: f"The case cannot be assessed: {problem.message}"}
            return home_page(request, problem.status, "case", sub.fields, errors)

    @router.get("/")
    async def home(request: Request) -> Response:
        return home_page(request)

    @router.get("/assess")
    async def assess_get() -> Response:
        # A reload of a page shown after a failed POST lands here: back to the start.
        return RedirectResponse("/", status_code=303)

    @router.post("/assess")
    async def assess(request: Request) -> Response:
        request.state.service_id = SERVICE
        try:
            sub = await read_submission(request, ctx.settings.max_bytes)
        except Problem as problem:
            if problem.status != 413:
                raise
            refuse(request, problem.code)
            errors = {FORM_ERROR: f"What was sent cannot be assessed: {problem.message}"}
            return home_page(request, 413, None, None, errors)
        mode = sub.one("mode")
        if mode == "case":
            return await assess_case(request, sub)
        if mode in _JSON_FIELDS:
            return await assess_json(request, mode, sub)
        refuse(request, "invalid-form")
        return home_page(request, 400, None, None, {FORM_ERROR: "Unknown form: use one below"})

    # The PDF route comes first: "/report/{report_id}" would also match "<id>.pdf".
    @router.get("/report/{report_id}.pdf")
    async def report_pdf(report_id: str) -> Response:
        view = stored_view(report_id)
        pdf = await anyio.to_thread.run_sync(render_report_pdf, view, limiter=pdf_limiter)
        headers = {
            **PRIVATE_HEADERS,
            "Content-Disposition": f'attachment; filename="{view.pdf_filename}"',
        }
        return Response(pdf, media_type="application/pdf", headers=headers)

    @router.get("/report/{report_id}")
    async def report(request: Request, report_id: str) -> Response:
        view = stored_view(report_id)
        return render_page(request, "report.html", {"view": view}, private=True)

    return router
