"""The clinic registry on the web: REST endpoints under /api/registry and pages under /registry,
all behind sign-in (calcinosis.web.auth).

    api.py            REST: patients, lesions, sessions, follow-ups, assessments, plan, due,
                      overview, audit (admins), FHIR export and import; ETag / If-Match on
                      edits; OperationOutcome errors (errors.py, etag.py, api_kit.py, schemas.py)
    pages.py          the clinic overview and the due list
    patient_pages.py  record a patient, the patient's page, forms for sessions and follow-ups
                      (forms.py reads them; page_kit.py is what every page shares)
    timeline_svg.py   the patient's course as an accessible SVG, drawn on the server
    feedback.py       CDS Hooks feedback stored in the registry too
    serialize.py      records as the API's JSON

The registry opens when settings.database_url names a database; without one, these pages and
endpoints answer 503 and the assessment pages work as before.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from calcinosis.registry.service import Registry
from calcinosis.web.context import AppContext
from calcinosis.web.registry import api, pages, patient_pages


def install(app: FastAPI, ctx: AppContext) -> None:
    """Open the registry named by the settings (if any) and add the REST API and pages."""
    if ctx.settings.database_url and ctx.registry is None:
        ctx.registry = Registry.open(ctx.settings.database_url, knowledge=ctx.knowledge)
    for router in routers():
        app.include_router(router)


def routers() -> list[APIRouter]:
    """Every router of registry data (the tests check that each of their routes is guarded)."""
    return [api.build_router(), pages.build_router(), patient_pages.build_router()]
