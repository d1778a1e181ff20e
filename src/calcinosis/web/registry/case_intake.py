"""The structured case form on "Record a patient": the assessment page's own form pieces
(form_spec, case_form, form_bundle) turn the submission into a FHIR Bundle, which the registry then
records exactly like an uploaded one, so both ways in store the same thing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from calcinosis.core.knowledge import Knowledge
from calcinosis.web.ui import form_spec
from calcinosis.web.ui.case_form import RawForm, read_case_form
from calcinosis.web.ui.form_bundle import bundle_from_form

CASE = "case"
"""The value of the hidden `mode` field, and the prefix of the form's element ids."""


def form_context(kb: Knowledge) -> dict[str, Any]:
    """What _case_form.html draws: the choices this knowledge base can read."""
    return {"spec": form_spec.FormSpec.from_knowledge(kb), "opts": form_spec}


def case_bundle(raw: RawForm, kb: Knowledge, today: dt.date) -> tuple[dict[str, Any], dt.date]:
    """The Bundle and the assessment date; raises case_form.FormInvalid with every field error."""
    form = read_case_form(raw, form_spec.FormSpec.from_knowledge(kb), today)
    return bundle_from_form(form, kb), form.as_of
