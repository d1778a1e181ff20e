"""Assemble one patient Bundle from the prefetch, fetching from `fhirServer` what is missing.

Per prefetch key (CDS Hooks 2.0 "Prefetch Template"):
- a resource or searchset Bundle is used as sent; a Bundle with a `next` link is completed from
  `fhirServer`;
- a missing key or an OperationOutcome means the client could not fetch it: we fetch it;
- `null` means the client has no data; we still ask `fhirServer` when we can (some clients send
  null when they could not fetch), and otherwise take it as "none".
A required key that ends up unavailable is a 412; an optional one is named on the card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calcinosis.web.cdshooks.fetch import (
    Fetched,
    FetchFailed,
    FhirFetcher,
    fhir_server_problem,
    gather_all,
)
from calcinosis.web.cdshooks.hook_request import HookRequest
from calcinosis.web.cdshooks.prefetch import Received, Template, patient_bundle, read_prefetch
from calcinosis.web.problems import Problem


@dataclass
class Collected:
    bundle: dict[str, Any]
    unavailable: list[str] = field(default_factory=list)
    """Labels of optional data that could not be obtained (shown on the card)."""
    truncated: list[str] = field(default_factory=list)
    """Labels of data of which only the first pages were read."""
    fetched_keys: list[str] = field(default_factory=list)


async def collect(
    request: HookRequest, templates: tuple[Template, ...], timeout_s: float, max_bytes: int
) -> Collected:
    prefetch = request.prefetch or {}
    received = {
        t.key: read_prefetch(t.key, prefetch[t.key]) for t in templates if t.key in prefetch
    }
    _check_prefetched_patient(request, received.get("patient"))
    needed = [t for t in templates if _needs_server(received.get(t.key))]
    why_not = _server_problem(request)
    results: dict[str, Fetched | FetchFailed] = {}
    if needed and why_not is None:
        assert request.fhir_server is not None and request.fhir_authorization is not None
        async with FhirFetcher(
            request.fhir_server, request.fhir_authorization.access_token, timeout_s, max_bytes
        ) as fetcher:
            calls = [_fetch(fetcher, t, request.patient_id, received.get(t.key)) for t in needed]
            for template, result in zip(needed, await gather_all(*calls), strict=True):
                if not isinstance(result, Fetched | FetchFailed):
                    raise result
                results[template.key] = result
    return _assemble(request, templates, received, results, why_not)


def _assemble(
    request: HookRequest,
    templates: tuple[Template, ...],
    received: Mapping[str, Received],
    results: Mapping[str, Fetched | FetchFailed],
    why_not: str | None,
) -> Collected:
    parts: list[tuple[Mapping[str, Any], ...]] = []
    missing: list[tuple[Template, str]] = []
    collected = Collected(bundle={})
    for template in templates:
        got, result = received.get(template.key), results.get(template.key)
        if isinstance(result, Fetched):
            parts.append(result.resources)
            collected.fetched_keys.append(template.key)
            if result.truncated:
                collected.truncated.append(template.label)
        elif got is not None and not got.failed:
            # as sent: null (no data), or a search whose further pages could not be read
            parts.append(got.resources)
            if got.next_url is not None:
                collected.truncated.append(template.label)
        else:
            missing.append((template, _reason(result, why_not)))
    _check_fetched_patient(request, results.get("patient"))
    if not any(_is_the_patient(r, request.patient_id) for part in parts for r in part):
        # e.g. prefetch.patient was null: nothing can be assessed without the patient
        patient = next(t for t in templates if t.key == "patient")
        missing = [(patient, _reason(results.get("patient"), why_not))] + [
            (t, r) for t, r in missing if t is not patient
        ]
    required = [(t, reason) for t, reason in missing if t.required]
    if required:
        names = ", ".join(t.label for t, _ in required)
        reasons = "; ".join(sorted({reason for _, reason in required}))
        raise Problem(412, "data-unavailable", f"cannot assess without {names}: {reasons}")
    collected.unavailable = [t.label for t, _ in missing]
    collected.bundle = patient_bundle(request.patient_id, parts)
    return collected


def _reason(result: Fetched | FetchFailed | None, why_not: str | None) -> str:
    if isinstance(result, FetchFailed):
        return f"not prefetched, and {result}"
    return f"not prefetched, and {why_not or 'no data was returned'}"


def _is_the_patient(resource: Mapping[str, Any], patient_id: str) -> bool:
    return resource.get("resourceType") == "Patient" and resource.get("id") == patient_id


def _needs_server(got: Received | None) -> bool:
    return got is None or got.failed or got.no_data or got.next_url is not None


def _server_problem(request: HookRequest) -> str | None:
    if request.fhir_server is None:
        return "no fhirServer was given"
    if request.fhir_authorization is None:
        return "no fhirAuthorization was given to read fhirServer with"
    return fhir_server_problem(request.fhir_server)


async def _fetch(
    fetcher: FhirFetcher, template: Template, patient_id: str, got: Received | None
) -> Fetched:
    if got is not None and got.next_url is not None:
        return await fetcher.pages(got.next_url, got.resources)
    relative = template.url_for(patient_id)
    if template.is_read:
        resource = await fetcher.read(relative)
        if resource is None:
            raise FetchFailed("the FHIR server has no such resource")
        return Fetched((resource,))
    return await fetcher.search(relative)


def _check_prefetched_patient(request: HookRequest, got: Received | None) -> None:
    if got is None or not got.resources:
        return
    ids = {r.get("id") for r in got.resources if r.get("resourceType") == "Patient"}
    if request.patient_id not in ids:
        raise Problem(
            400,
            "invalid-prefetch",
            "prefetch.patient does not hold the Patient named by context.patientId",
        )


def _check_fetched_patient(request: HookRequest, result: Fetched | FetchFailed | None) -> None:
    if isinstance(result, Fetched) and not any(
        _is_the_patient(r, request.patient_id) for r in result.resources
    ):
        raise Problem(412, "data-unavailable", "fhirServer did not return the patient in context")
