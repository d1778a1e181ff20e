"""Validate a CDS Hooks 2.0 hook request body; anything malformed is a 400 OperationOutcome
naming the field, so an integrator can fix their client from the response alone. Fields this
service does not know are ignored (the spec may add some; `extension` is for vendors)."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from calcinosis.web.problems import Problem

# A FHIR id (R4 datatypes: id): letters, digits, "-" and ".", at most 64 characters.
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class FhirAuthorization:
    access_token: str = field(repr=False)
    scope: str


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None
    encounter_id: str | None
    fhir_server: str | None
    fhir_authorization: FhirAuthorization | None
    prefetch: Mapping[str, Any] | None
    """Keys as sent: None means "not sent"; a key's value may be None (the client had no data)."""
    draft_orders: tuple[Mapping[str, Any], ...] = ()
    selections: tuple[str, ...] = ()


def parse_hook_request(body: Mapping[str, Any], expected_hook: str) -> HookRequest:
    hook = _string(body, "hook")
    if hook != expected_hook:
        raise _bad(f"hook {hook!r} does not match this service, which answers {expected_hook!r}")
    instance = _string(body, "hookInstance")
    try:
        uuid.UUID(instance)
    except ValueError:
        raise _bad("hookInstance must be a UUID") from None
    server = _optional_string(body, "fhirServer")
    if server is not None:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad("fhirServer must be an absolute URL")
    authorization = _authorization(body.get("fhirAuthorization"))
    if authorization is not None and server is None:
        raise _bad("fhirServer is required when fhirAuthorization is given")
    context = body.get("context")
    if not isinstance(context, Mapping):
        raise _bad("context must be an object")
    patient_id = _string(context, "patientId", "context.patientId")
    if not FHIR_ID.match(patient_id):
        raise _bad("context.patientId must be a FHIR id")
    prefetch = body.get("prefetch")
    if "prefetch" in body and not isinstance(prefetch, Mapping):
        raise _bad("prefetch must be an object")
    if "extension" in body and not isinstance(body["extension"], Mapping):
        raise _bad("extension must be an object")
    request = HookRequest(
        hook=hook,
        hook_instance=instance,
        patient_id=patient_id,
        user_id=_optional_reference(context, "userId"),
        encounter_id=_optional_string(context, "encounterId", "context.encounterId"),
        fhir_server=server,
        fhir_authorization=authorization,
        prefetch=prefetch,
    )
    if hook in ("order-select", "order-sign"):
        return _with_orders(request, context)
    return request


def _with_orders(request: HookRequest, context: Mapping[str, Any]) -> HookRequest:
    bundle = context.get("draftOrders")
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise _bad("context.draftOrders must be a FHIR Bundle")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise _bad("context.draftOrders.entry must be a list")
    orders = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
            raise _bad(f"context.draftOrders.entry[{index}].resource must be a FHIR resource")
        orders.append(resource)
    selections: tuple[str, ...] = ()
    if request.hook == "order-select":
        raw = context.get("selections")
        if not isinstance(raw, list) or not raw:
            raise _bad("context.selections must be a non-empty list of references")
        if not all(isinstance(s, str) and _REFERENCE.match(s) for s in raw):
            raise _bad("context.selections must hold references like 'MedicationRequest/123'")
        selections = tuple(raw)
    return dataclasses.replace(request, draft_orders=tuple(orders), selections=selections)


def _authorization(value: Any) -> FhirAuthorization | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad("fhirAuthorization must be an object")
    token = _string(value, "access_token", "fhirAuthorization.access_token")
    token_type = _string(value, "token_type", "fhirAuthorization.token_type")
    if token_type.lower() != "bearer":
        raise _bad("fhirAuthorization.token_type must be 'Bearer'")
    scope = value.get("scope", "")
    if not isinstance(scope, str):
        raise _bad("fhirAuthorization.scope must be a string")
    return FhirAuthorization(access_token=token, scope=scope)


def _string(data: Mapping[str, Any], key: str, name: str | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{name or key} must be a non-empty string")
    return value


def _optional_string(data: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
    if key not in data:
        return None
    return _string(data, key, name)


def _optional_reference(context: Mapping[str, Any], key: str) -> str | None:
    value = _optional_string(context, key, f"context.{key}")
    if value is not None and not _REFERENCE.match(value):
        raise _bad(f"context.{key} must be a reference like 'Practitioner/123'")
    return value


def _bad(message: str) -> Problem:
    return Problem(400, "invalid-hook-request", message)
