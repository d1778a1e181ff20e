"""Prefetch templates (what each service asks the CDS Client for) and reading what it sent.

The templates use only `{{context.patientId}}`: it is a root-level primitive context field of all
three hooks, and the library forbids `draftOrders` and `selections` as tokens. They keep to the
query subset the spec recommends (reads, `patient=` searches, token equality). The same queries
are run against `fhirServer` when a key was not prefetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from calcinosis.core.codes import CodeSystem
from calcinosis.core.knowledge import Knowledge
from calcinosis.web.problems import Problem

PATIENT_TOKEN = "{{context.patientId}}"
# Parsed JSON objects are dicts: naming dict first spares the slower abstract-class check for
# every entry of every prefetched Bundle.
_OBJECT = (dict, Mapping)


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    query: str
    label: str
    """What the key holds, in words, for 412 messages and the card's "not available" note."""
    required: bool
    """Without it no sound assessment: answer 412 when it can be neither prefetched nor fetched."""

    @property
    def is_read(self) -> bool:
        return "?" not in self.query

    def url_for(self, patient_id: str) -> str:
        return self.query.replace(PATIENT_TOKEN, quote(patient_id, safe=""))


def templates(kb: Knowledge) -> tuple[Template, ...]:
    """One template per kind of data the engine reads (docs: fhir-profile.md)."""
    loinc = ",".join(
        f"{CodeSystem.LOINC.value}|{code}"
        for analyte in kb.analytes.values()
        for code in analyte.loinc
    )
    on_patient = f"patient={PATIENT_TOKEN}"
    return (
        Template("patient", f"Patient/{PATIENT_TOKEN}", "the patient (Patient)", True),
        Template("conditions", f"Condition?{on_patient}", "problems (Condition)", True),
        Template(
            "medication-requests",
            f"MedicationRequest?{on_patient}",
            "medication orders (MedicationRequest)",
            True,
        ),
        Template("labs", f"Observation?{on_patient}&code={loinc}", "laboratory results", True),
        Template(
            "findings",
            f"Observation?{on_patient}&category=exam,imaging,social-history",
            "examination and imaging findings (Observation)",
            True,
        ),
        Template(
            "medication-statements",
            f"MedicationStatement?{on_patient}",
            "medication history with treatment response (MedicationStatement)",
            False,
        ),
        Template(
            "medication-administrations",
            f"MedicationAdministration?{on_patient}",
            "administered medication (MedicationAdministration)",
            False,
        ),
        Template(
            "reports",
            f"DiagnosticReport?{on_patient}",
            "histology and imaging reports (DiagnosticReport)",
            False,
        ),
        Template("procedures", f"Procedure?{on_patient}", "procedures (Procedure)", False),
        Template(
            "notes", f"DocumentReference?{on_patient}", "clinical notes (DocumentReference)", False
        ),
    )


@dataclass(frozen=True)
class Received:
    """What the client sent for one key."""

    resources: tuple[Mapping[str, Any], ...] = ()
    next_url: str | None = None
    """A paginated search: the rest is at this URL."""
    no_data: bool = False
    """null: the client says it has no data for this key."""
    failed: bool = False
    """An OperationOutcome: the client tried and could not fetch it."""


def read_prefetch(key: str, value: Any) -> Received:
    """One prefetch value: a resource, a Bundle (searchset), an OperationOutcome, or null."""
    if value is None:
        return Received(no_data=True)
    if not isinstance(value, _OBJECT) or not isinstance(value.get("resourceType"), str):
        raise Problem(
            400,
            "invalid-prefetch",
            f"prefetch.{key} must be a FHIR resource, a searchset Bundle or null",
        )
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        return Received(failed=True)
    if kind != "Bundle":
        return Received(resources=(value,))
    resources, next_url = bundle_contents(value, f"prefetch.{key}")
    return Received(resources=resources, next_url=next_url)


def bundle_contents(
    bundle: Mapping[str, Any], where: str
) -> tuple[tuple[Mapping[str, Any], ...], str | None]:
    """A Bundle's resources (search outcome messages left out) and its `next` link."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise Problem(400, "invalid-prefetch", f"{where}.entry must be a list")
    resources = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, _OBJECT):
            raise Problem(400, "invalid-prefetch", f"{where}.entry[{index}] must be an object")
        resource = entry.get("resource")
        if not isinstance(resource, _OBJECT):
            continue
        search = entry.get("search")
        if isinstance(search, _OBJECT) and search.get("mode") == "outcome":
            continue
        resources.append(resource)
    next_url = None
    for link in bundle.get("link") or []:
        if isinstance(link, _OBJECT) and link.get("relation") == "next":
            url = link.get("url")
            next_url = url if isinstance(url, str) and url else None
    return tuple(resources), next_url


def patient_bundle(patient_id: str, parts: list[tuple[Mapping[str, Any], ...]]) -> dict[str, Any]:
    """One collection Bundle for the engine: duplicates (the same Type/id from two keys) once,
    and Patients other than the one in context left out."""
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = []
    for resources in parts:
        for resource in resources:
            kind, rid = resource.get("resourceType"), resource.get("id")
            if kind == "Patient" and rid != patient_id:
                continue
            if isinstance(rid, str) and rid:
                key = (str(kind), rid)
                if key in seen:
                    continue
                seen.add(key)
            entries.append({"resource": resource})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
