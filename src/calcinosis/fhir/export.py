"""Assessment -> FHIR R4 Bundle (collection) of one RiskAssessment and one GuidanceResponse.

The output is a pure function of the Assessment and the arguments: resource ids are UUID5s of
the patient id, knowledge version and as-of date, and the timestamp is the as-of date at
midnight UTC, so the same assessment always exports to the same bytes.

How the R4 (4.0.1) specification was read:
- GuidanceResponse.reasonReference may only point at Condition, Observation, DiagnosticReport or
  DocumentReference, so the two resources are linked the other way round: RiskAssessment.parent
  (Reference(Any), "a resource this risk assessment is part of") points at the GuidanceResponse.
- GuidanceResponse.status: `data-required` ("more data is required to complete the evaluation")
  when the type is undetermined; `data-requested` ("more data may result in a more complete
  evaluation") when the type is decided but some data is still missing; `success` otherwise.
- DataRequirement has no description element: each missing item becomes a requirement of type
  Observation whose element id is the missing-data id; its summary travels in a note.
- RiskAssessment.basis points at the input resources the statements rest on, as the input named
  them (like the subject reference); every other reference is to a urn:uuid entry of the Bundle.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from calcinosis.core.assessment import Assessment, Basis, Classification, Statement, Suspicion
from calcinosis.core.codes import CodeSystem

RISK_CODE_TEXT = "Dystrophic calcinosis cutis suspicion and calcinosis cutis classification"
DCC_OUTCOME_TEXT = "Dystrophic calcinosis cutis behind comedones"

# Display strings are those of the risk-probability CodeSystem.
_RISK_DISPLAY = {
    "high": "High likelihood",
    "moderate": "Moderate likelihood",
    "low": "Low likelihood",
}
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:calcinosis:fhir-export")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def assessment_to_fhir(
    assessment: Assessment, *, subject_reference: str, bundle_id: str | None = None
) -> dict[str, Any]:
    """Export `assessment` as a FHIR R4 collection Bundle (plain JSON-ready dict).

    `subject_reference` is the patient reference as the caller wants it written (for example
    "Patient/123" or "urn:uuid:..."). `bundle_id` overrides the derived Bundle id.
    Raises ValueError when the as-of date, the subject reference or the bundle id is unusable.
    """
    as_of = _checked_as_of(assessment.as_of)
    if not subject_reference.strip():
        raise ValueError("subject_reference is empty; pass the patient reference, e.g. Patient/123")
    if bundle_id is not None and not _FHIR_ID.fullmatch(bundle_id):
        raise ValueError(f"bundle_id {bundle_id!r} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})")

    def derived(role: str) -> str:
        parts = (assessment.patient.id, assessment.knowledge_version, as_of, role)
        return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)))

    risk_id, guidance_id = derived("RiskAssessment"), derived("GuidanceResponse")
    subject = {"reference": subject_reference}
    risk = _risk_assessment(assessment, risk_id, subject, f"urn:uuid:{guidance_id}")
    guidance = _guidance_response(assessment, guidance_id, subject)
    bundle = {
        "resourceType": "Bundle",
        "id": bundle_id or derived("Bundle"),
        "type": "collection",
        "timestamp": f"{as_of}T00:00:00Z",
        "entry": [
            {"fullUrl": f"urn:uuid:{risk_id}", "resource": risk},
            {"fullUrl": f"urn:uuid:{guidance_id}", "resource": guidance},
        ],
    }
    pruned: dict[str, Any] = _prune(bundle)
    return pruned


def _checked_as_of(as_of: str) -> str:
    try:
        if _ISO_DATE.fullmatch(as_of):
            datetime.date.fromisoformat(as_of)
            return as_of
    except ValueError:
        pass
    raise ValueError(f"Assessment.as_of {as_of!r} is not a YYYY-MM-DD date; FHIR export needs it")


def _risk_assessment(
    assessment: Assessment, resource_id: str, subject: dict[str, str], parent: str
) -> dict[str, Any]:
    suspicion, classification = assessment.dcc_suspicion, assessment.calcinosis
    dcc: dict[str, Any] = {"outcome": {"text": DCC_OUTCOME_TEXT}, "rationale": suspicion.summary}
    if suspicion.level in _RISK_DISPLAY:
        coding = {
            "system": CodeSystem.RISK_PROBABILITY.value,
            "code": suspicion.level,
            "display": _RISK_DISPLAY[suspicion.level],
        }
        dcc["qualitativeRisk"] = {"coding": [coding]}
    else:
        dcc["rationale"] = (
            f"No qualitative risk: DCC suspicion is {suspicion.level.replace('-', ' ')}. "
            f"{suspicion.summary}"
        )
    return {
        "resourceType": "RiskAssessment",
        "id": resource_id,
        "parent": {"reference": parent},
        "status": "final",
        "method": {"text": f"Calcinosis knowledge base, version {assessment.knowledge_version}"},
        "code": {"text": RISK_CODE_TEXT},
        "subject": subject,
        "occurrenceDateTime": assessment.as_of,
        "basis": _basis_references(assessment),
        "prediction": [
            dcc,
            {"outcome": {"text": classification.type}, "rationale": classification.summary},
        ],
        "mitigation": "\n".join(s.summary for s in assessment.management if s.summary.strip()),
        "note": [{"text": f"warning {w.id}: {w.summary}"} for w in assessment.warnings],
    }


def _basis_references(assessment: Assessment) -> list[dict[str, str]]:
    """Every finding any statement rests on, once, in first-seen order."""
    seen: dict[str, str] = {}
    for _, statement in assessment.statements():
        for finding in statement.basis.findings:
            if finding.reference.strip():
                seen.setdefault(finding.reference, finding.summary)
    return [{"reference": ref, "display": summary} for ref, summary in seen.items()]


def _guidance_response(
    assessment: Assessment, resource_id: str, subject: dict[str, str]
) -> dict[str, Any]:
    if assessment.calcinosis.type == "undetermined":
        status = "data-required"
    elif assessment.missing_data:
        status = "data-requested"
    else:
        status = "success"
    notes = [_statement_note(section, s) for section, s in assessment.statements()]
    for m in assessment.missing_data:
        would_change = f"Would change: {m.would_change}" if m.would_change.strip() else ""
        notes.append(" ".join(filter(None, [f"missing_data {m.id}: {m.summary}", would_change])))
    for c in assessment.citations:
        links = [f"doi:{c.doi}" if c.doi else "", f"pmid:{c.pmid}" if c.pmid else "", c.url or ""]
        notes.append(" ".join([f"citation {c.id}: {c.text}", *filter(None, links)]))
    return {
        "resourceType": "GuidanceResponse",
        "id": resource_id,
        "moduleUri": f"urn:calcinosis:knowledge:{assessment.knowledge_version}",
        "status": status,
        "subject": subject,
        "occurrenceDateTime": assessment.as_of,
        "note": [{"text": text} for text in notes],
        "dataRequirement": [
            {"id": re.sub(r"\s+", "-", m.id.strip()), "type": "Observation"}
            for m in assessment.missing_data
        ],
    }


def _statement_note(section: str, statement: Suspicion | Classification | Statement) -> str:
    """One note line: section, id, summary, then the bracketed basis groups that are not empty.

    The two single statements have no id: their level or type stands in for it.
    """
    if isinstance(statement, Suspicion):
        key = statement.level
    elif isinstance(statement, Classification):
        key = statement.type
    else:
        key = statement.id
    return " ".join([f"{section} {key}: {statement.summary}", *_basis_groups(statement.basis)])


def _basis_groups(basis: Basis) -> list[str]:
    groups = (
        ("findings", [f.reference for f in basis.findings]),
        ("rules", list(basis.rules)),
        ("citations", list(basis.citations)),
    )
    kept = ((name, [item for item in items if item.strip()]) for name, items in groups)
    return [f"[{name}: {', '.join(items)}]" for name, items in kept if items]


def _prune(node: Any) -> Any:
    """Drop None, blank strings and the lists and objects they leave empty; strip strings."""
    if isinstance(node, dict):
        items = ((key, _prune(value)) for key, value in node.items())
        return {key: value for key, value in items if not _is_empty(value)}
    if isinstance(node, list):
        return [value for value in map(_prune, node) if not _is_empty(value)]
    if isinstance(node, str):
        return node.strip()
    return node


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)
