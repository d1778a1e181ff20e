"""What every registry page shares: the signed-in user and their CSRF token in the layout,
no-store headers, the labels people read, and reading a posted form with its CSRF check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from calcinosis.registry.due import DUE, LOST, OVERDUE
from calcinosis.registry.models import TECHNIQUE_LABELS
from calcinosis.registry.overview import OK
from calcinosis.registry.records import Identifier
from calcinosis.registry.service import Registry
from calcinosis.web.auth.guard import CSRF_FIELD, auth_of, check_form_csrf
from calcinosis.web.auth.state import Principal
from calcinosis.web.context import context_of
from calcinosis.web.problems import Problem
from calcinosis.web.ui.intake import Submission, read_submission
from calcinosis.web.ui.templating import render_page

STATUS_LABELS = {
    LOST: "Lost to follow-up",
    OVERDUE: "Overdue",
    DUE: "Due",
    OK: "Nothing late",
}
KIND_LABELS = {
    "follow-up.wound-review": "Wound review",
    "follow-up.recurrence-3-months": "3-month recurrence review",
    "follow-up.long-term": "Long-term review (6-12 months)",
    "follow-up.calciphylaxis-inpatient": "Inpatient review",
    "follow-up.after-workup": "Review of work-up results",
    "follow-up.acne-review": "Acne treatment review",
    "": "Unplanned visit",
}


def registry_of(request: Request) -> Registry:
    registry = context_of(request).registry
    if registry is None:  # pragma: no cover - the guards refuse first
        raise Problem(503, "registry-not-configured", "the registry is not set up")
    return registry


def short_id(record_id: str) -> str:
    return record_id[:8]


def patient_label(patient_id: str, identifiers: tuple[Identifier, ...] = ()) -> str:
    """How people tell patients apart on screen: the short registry id and the identifiers
    the clinic gave (MRNs); the registry keeps no names."""
    label = f"Patient {short_id(patient_id)}"
    if identifiers:
        label += " (" + ", ".join(i.value for i in identifiers) + ")"
    return label


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def long_date(value: dt.date | None) -> str:
    return f"{value.day} {value:%b %Y}" if value is not None else "—"


HELPERS = {
    "status_label": STATUS_LABELS.get,
    "technique_label": lambda t: TECHNIQUE_LABELS.get(t, t),
    "kind_label": kind_label,
    "patient_label": patient_label,
    "short_id": short_id,
    "long_date": long_date,
}


def page(
    request: Request,
    who: Principal,
    name: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """A registry page: the layout shows who is signed in and a sign-out form; never cached."""
    assert who.session is not None
    csrf = auth_of(request).signer.csrf_token(who.session.session_id)
    full = {**HELPERS, **(context or {}), "who": who, "csrf": csrf, "csrf_field": CSRF_FIELD}
    return render_page(request, name, full, status, private=True)


async def posted_form(request: Request, who: Principal) -> Submission:
    """The posted form (size-capped like the assessment forms), refused with 403 unless it
    carries the session's CSRF token."""
    if _empty(request):
        submission = Submission()  # no form at all: refused below for its missing token
    else:
        submission = await read_submission(request, context_of(request).settings.max_bytes)
    check_form_csrf(request, who, submission.one(CSRF_FIELD))
    return submission


def _empty(request: Request) -> bool:
    return "content-type" not in request.headers and request.headers.get("content-length", "0") in (
        "",
        "0",
    )
