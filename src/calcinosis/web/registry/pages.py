"""The registry's clinic-wide pages: the overview (patients by status, outcomes) and the due list.
Every page needs a signed-in user; patient pages are in patient_pages.py."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from calcinosis.web.auth.guard import signed_in
from calcinosis.web.auth.state import Principal
from calcinosis.web.context import parse_as_of
from calcinosis.web.registry.errors import as_problems
from calcinosis.web.registry.page_kit import page, registry_of

PAGE_SIZE = 100

Who = Annotated[Principal, Depends(signed_in)]


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/registry")
    def overview(
        request: Request,
        who: Who,
        as_of: str = "",
        page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    ) -> Response:
        day = parse_as_of(as_of) or dt.date.today()
        with as_problems():
            seen = registry_of(request).overview(day, actor=who.actor)
        pages = max(1, math.ceil(len(seen.patients) / PAGE_SIZE))
        number = min(max(page_number, 1), pages)
        rows = seen.patients[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        context = {
            "section": "overview",
            "overview": seen,
            "rows": rows,
            "total": len(seen.patients),
            "pages": pages,
            "page_number": number,
        }
        return page(request, who, "registry/overview.html", context)

    @router.get("/registry/due")
    def due(request: Request, who: Who, as_of: str = "") -> Response:
        day = parse_as_of(as_of) or dt.date.today()
        with as_problems():
            entries = registry_of(request).due(day, actor=who.actor)
        context = {"section": "due", "as_of": day, "entries": entries}
        return page(request, who, "registry/due.html", context)

    return router
