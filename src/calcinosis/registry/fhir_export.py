"""A patient's registry file -> a FHIR R4 collection Bundle; fhir_import.py reads it back unchanged.

    Patient           registry id, identifiers, gender, birth year; meta.versionId = version
    Observation       one per lesion record (site in bodySite; count, size, morphology as
                      components) and one per review that took place (recurrence, lesion count,
                      satisfaction), linked to its Appointment by the follow-up identifier
    Procedure         one per treatment session (technique, lesions treated, complications)
    RiskAssessment    one per stored assessment: the contract JSON verbatim (base64 attachment
                      extension), knowledge version, input SHA-256 (identifier), as-of date
    Condition         the calcinosis the latest assessment names (derived; not imported)
    Appointment       one per planned review (proposed, or fulfilled once it took place), with
                      the planning knowledge rule as serviceType and planned..due-by as
                      requestedPeriod

References inside the Bundle are urn:uuid fullUrls; resource ids are the registry's ids.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from calcinosis.core.codes import CodeSystem
from calcinosis.registry.models import TECHNIQUE_LABELS
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    LesionRecord,
    PatientFile,
    PatientRecord,
    ProcedureRecord,
)
from calcinosis.registry.systems import EXPORT_TAG_CODE, Extension, RegistrySystem

LESIONS = "lesions"
FOLLOW_UP_REVIEW = "follow-up-review"
COMPONENTS = {
    "lesion-count": "Number of skin lesions",
    "lesion-size": "Skin lesion size",
    "lesion-morphology": "Skin lesion morphology",
    "recurrence": "Recurrence of lesions",
    "satisfaction": "Patient satisfaction (0-10)",
}
_DERIVED = uuid.uuid5(uuid.NAMESPACE_URL, "urn:calcinosis:registry-export")
_TYPE_LABEL = {
    "dystrophic": "Dystrophic calcinosis cutis",
    "metastatic": "Metastatic calcinosis cutis",
    "idiopathic": "Idiopathic calcinosis cutis",
    "iatrogenic": "Iatrogenic calcinosis cutis",
    "calciphylaxis": "Calciphylaxis",
    "undetermined": "Calcinosis cutis, type undetermined",
}


def derived_id(record_id: str, role: str) -> str:
    """A second resource made from one record (an outcome Observation, a Condition)."""
    return str(uuid.uuid5(_DERIVED, f"{record_id}/{role}"))


def patient_bundle(file: PatientFile, *, exported_at: dt.datetime) -> dict[str, Any]:
    subject = {"reference": f"urn:uuid:{file.patient.id}"}
    resources: list[dict[str, Any]] = [_patient(file.patient)]
    resources += [_lesion(r, subject) for r in file.lesions]
    resources += [_risk_assessment(r, subject) for r in file.assessments]
    latest = file.latest_assessment()
    if latest is not None:
        resources += _condition(latest, subject)
    resources += [_procedure(r, subject) for r in file.procedures]
    for review in file.follow_ups:
        if review.planned_date is not None:
            resources.append(_appointment(review, subject))
        if review.done_date is not None:
            resources.append(_review_outcome(review, subject))
    return {
        "resourceType": "Bundle",
        "id": derived_id(file.patient.id, f"bundle/{exported_at.isoformat()}"),
        "meta": {"tag": [{"system": RegistrySystem.EXPORT_TAG.value, "code": EXPORT_TAG_CODE}]},
        "type": "collection",
        "timestamp": exported_at.isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(code: str, text: str) -> dict[str, Any]:
    return {"coding": [coding(RegistrySystem.CODES.value, code)], "text": text}


def _meta(version: int) -> dict[str, Any]:
    return {"versionId": str(version)}


def _patient(record: PatientRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": record.id,
        "meta": _meta(record.version),
        "extension": [
            {"url": Extension.CREATED_AT.value, "valueDateTime": record.created_at.isoformat()}
        ],
        "gender": record.sex,
    }
    if record.identifiers:
        out["identifier"] = [{"system": i.system, "value": i.value} for i in record.identifiers]
    if record.birth_year is not None:
        out["birthDate"] = f"{record.birth_year:04d}"
    return out


def _quantity_mm(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mm", "system": CodeSystem.UCUM.value, "code": "mm"}


def _lesion(record: LesionRecord, subject: dict[str, str]) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if record.count is not None:
        components.append(_component("lesion-count", {"valueInteger": record.count}))
    if record.size_mm_low is not None or record.size_mm_high is not None:
        size: dict[str, Any] = {}
        if record.size_mm_low is not None:
            size["low"] = _quantity_mm(record.size_mm_low)
        if record.size_mm_high is not None:
            size["high"] = _quantity_mm(record.size_mm_high)
        components.append(_component("lesion-size", {"valueRange": size}))
    if record.morphology:
        components.append(_component("lesion-morphology", {"valueString": record.morphology}))
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": record.id,
        "meta": _meta(record.version),
        "status": "final",
        "category": [{"coding": [coding(CodeSystem.OBSERVATION_CATEGORY.value, "exam")]}],
        "code": _concept(LESIONS, "Skin lesions"),
        "subject": subject,
        "effectiveDateTime": record.recorded_on.isoformat(),
    }
    if record.site:
        out["bodySite"] = {"text": record.site}
    if components:
        out["component"] = components
    return out


def _component(code: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": _concept(code, COMPONENTS[code]), **value}


def _risk_assessment(record: AssessmentRecord, subject: dict[str, str]) -> dict[str, Any]:
    contract = record.contract()
    level = str(contract.get("dcc_suspicion", {}).get("level", ""))
    kind = str(contract.get("calcinosis", {}).get("type", ""))
    dcc: dict[str, Any] = {"outcome": {"text": "Dystrophic calcinosis cutis behind comedones"}}
    if level in ("high", "moderate", "low"):
        dcc["qualitativeRisk"] = {"coding": [coding(CodeSystem.RISK_PROBABILITY.value, level)]}
    data = base64.b64encode(record.contract_json.encode()).decode()
    return {
        "resourceType": "RiskAssessment",
        "id": record.id,
        "extension": [
            {"url": Extension.CREATED_AT.value, "valueDateTime": record.created_at.isoformat()},
            {"url": Extension.KNOWLEDGE_VERSION.value, "valueString": record.knowledge_version},
            {
                "url": Extension.ASSESSMENT_JSON.value,
                "valueAttachment": {"contentType": "application/json", "data": data},
            },
        ],
        "identifier": [{"system": RegistrySystem.INPUT_SHA256.value, "value": record.input_sha256}],
        "status": "final",
        "method": {"text": f"Calcinosis knowledge base, version {record.knowledge_version}"},
        "subject": subject,
        "occurrenceDateTime": record.as_of.isoformat(),
        "prediction": [dcc, {"outcome": {"text": f"Calcinosis type: {kind}"}}],
    }


def _condition(record: AssessmentRecord, subject: dict[str, str]) -> list[dict[str, Any]]:
    kind = str(record.contract().get("calcinosis", {}).get("type", ""))
    if kind not in _TYPE_LABEL:
        return []
    return [
        {
            "resourceType": "Condition",
            "id": derived_id(record.id, "condition"),
            "code": {"text": _TYPE_LABEL[kind]},
            "subject": subject,
            "recordedDate": record.as_of.isoformat(),
            "evidence": [{"detail": [{"reference": f"urn:uuid:{record.id}"}]}],
        }
    ]


def _procedure(record: ProcedureRecord, subject: dict[str, str]) -> dict[str, Any]:
    label = TECHNIQUE_LABELS[record.technique]
    out: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": record.id,
        "meta": _meta(record.version),
        "status": "completed",
        "code": {
            "coding": [coding(RegistrySystem.TECHNIQUE.value, record.technique, label)],
            "text": label,
        },
        "subject": subject,
        "performedDateTime": record.performed_on.isoformat(),
    }
    if record.lesions_treated is not None:
        out["extension"] = [
            {"url": Extension.LESIONS_TREATED.value, "valueInteger": record.lesions_treated}
        ]
    if record.complications:
        out["complication"] = [{"text": record.complications}]
    return out


def _follow_up_identifier(record: FollowUpRecord) -> list[dict[str, str]]:
    return [{"system": RegistrySystem.FOLLOW_UP.value, "value": record.id}]


def _appointment(record: FollowUpRecord, subject: dict[str, str]) -> dict[str, Any]:
    assert record.planned_date is not None
    period = {"start": record.planned_date.isoformat()}
    if record.due_by is not None:
        period["end"] = record.due_by.isoformat()
    out: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": record.id,
        "meta": _meta(record.version),
        "identifier": _follow_up_identifier(record),
        "status": "fulfilled" if record.done_date is not None else "proposed",
        "description": "Calcinosis cutis follow-up review",
        "requestedPeriod": [period],
        "participant": [{"actor": subject, "status": "accepted"}],
    }
    if record.kind:
        out["serviceType"] = [
            {"coding": [coding(RegistrySystem.KNOWLEDGE_RULE.value, record.kind)]}
        ]
    return out


def _review_outcome(record: FollowUpRecord, subject: dict[str, str]) -> dict[str, Any]:
    assert record.done_date is not None
    components = []
    if record.recurrence is not None:
        components.append(_component("recurrence", {"valueBoolean": record.recurrence}))
    if record.lesion_count is not None:
        components.append(_component("lesion-count", {"valueInteger": record.lesion_count}))
    if record.satisfaction is not None:
        components.append(_component("satisfaction", {"valueInteger": record.satisfaction}))
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": derived_id(record.id, "outcome"),
        "meta": _meta(record.version),
        "identifier": _follow_up_identifier(record),
        "status": "final",
        "code": _concept(FOLLOW_UP_REVIEW, "Follow-up review"),
        "subject": subject,
        "effectiveDateTime": record.done_date.isoformat(),
    }
    if record.kind and record.planned_date is None:  # no Appointment carries the kind
        out["extension"] = [{"url": Extension.FOLLOW_UP_KIND.value, "valueString": record.kind}]
    if components:
        out["component"] = components
    return out
