"""FHIR export: a valid, deterministic R4 Bundle that carries every statement of the assessment."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from calcinosis.core.assessment import (
    Assessment,
    Basis,
    Citation,
    Classification,
    Finding,
    MissingData,
    PatientSummary,
    Statement,
    Suspicion,
)
from calcinosis.core.codes import CodeSystem
from calcinosis.fhir.export import DCC_OUTCOME_TEXT, RISK_CODE_TEXT, assessment_to_fhir

SUBJECT = "Patient/p-1"
CALCIUM = Finding("Observation/ca", "Serum calcium normal (flag only)")
STRETCH = Finding("Observation/stretch", "Lesions more visible when the skin is stretched")
ACNE = Finding("Condition/acne", "Comedonal acne since her teens")
HISTO = Finding("DiagnosticReport/histo", "Calcified nodules in the dermis")


def _basis(*findings: Finding, rule: str = "rule-x") -> Basis:
    return Basis(findings=findings, rules=(rule,), citations=("palanivel-2026",))


def full_assessment() -> Assessment:
    """Every section filled; findings repeat across statements to exercise de-duplication."""
    return Assessment(
        knowledge_version="2026.1.0",
        as_of="2026-01-01",
        patient=PatientSummary(id="p-1", age_years=29, sex="female"),
        dcc_suspicion=Suspicion(
            "high",
            "Hard comedones that resisted isotretinoin.",
            _basis(ACNE, STRETCH, rule="dcc-hard-comedones"),
        ),
        calcinosis=Classification(
            "dystrophic",
            "Calcium on histology, normal calcium.",
            _basis(HISTO, CALCIUM, ACNE, rule="classify-dystrophic"),
        ),
        differential=(
            Statement(
                "calcinosis-cutis-dystrophic",
                "Most likely.",
                _basis(HISTO),
                extra=(("label", "Dystrophic calcinosis cutis"), ("rank", 1)),
            ),
            Statement(
                "milia",
                "Less likely: lesions were hard.",
                _basis(STRETCH),
                extra=(("label", "Milia"), ("rank", 2)),
            ),
        ),
        calculations=(
            Statement(
                "corrected-calcium",
                "Corrected calcium 9.4 mg/dL.",
                _basis(CALCIUM),
                extra=(("value", 9.4), ("unit", "mg/dL")),
            ),
        ),
        workup=(Statement("serum-phosphate", "Measure serum phosphate.", _basis()),),
        management=(
            Statement(
                "extraction",
                "Extract the calcified comedones.",
                _basis(HISTO),
                extra=(("evidence_level", "case report"),),
            ),
            Statement(
                "stop-retinoid",
                "Do not repeat isotretinoin.",
                _basis(ACNE),
                extra=(("evidence_level", "expert opinion"),),
            ),
        ),
        follow_up=(Statement("review-3-months", "Review in 3 months.", _basis()),),
        warnings=(
            Statement("flag-only-calcium", "Calcium given as a flag only.", _basis(CALCIUM)),
        ),
        missing_data=(),
        citations=(
            Citation("palanivel-2026", "Palanivel et al. 2026.", doi="10.46889/JDR.2026.7105"),
            Citation("other-2020", "Another source.", pmid="12345"),
        ),
    )


def minimal_assessment() -> Assessment:
    """Empty lists, suspicion not applicable, type undetermined with data missing."""
    return Assessment(
        knowledge_version="2026.1.0",
        as_of="2026-01-01",
        patient=PatientSummary(id="p-2", age_years=None, sex="unknown"),
        dcc_suspicion=Suspicion("not-applicable", "No acne history.", Basis(citations=("c1",))),
        calcinosis=Classification(
            "undetermined",
            "Calcinosis likely, type unclear.",
            Basis(findings=(Finding("Observation/x", ""),), citations=("c1",)),
        ),
        missing_data=(MissingData("serum-phosphate", "No phosphate result.", "metastatic vs not"),),
        citations=(Citation("c1", "A source without DOI."),),
    )


def export(assessment: Assessment, **kwargs: Any) -> dict[str, Any]:
    return assessment_to_fhir(assessment, subject_reference=SUBJECT, **kwargs)


def resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    matches = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]
    assert len(matches) == 1
    found: dict[str, Any] = matches[0]
    return found


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


BOTH = pytest.mark.parametrize("make", [full_assessment, minimal_assessment])


@BOTH
def test_bundle_and_every_resource_validate(make: Any) -> None:
    # fhir.resources' R4B models stand in for an R4 validator: RiskAssessment, GuidanceResponse
    # and Bundle are structurally the same in R4 and R4B. They check element names, types and
    # cardinality, not value-set bindings, reference targets or blank strings, so the tests
    # below check those separately.
    bundle = export(make())
    Bundle.model_validate(bundle)
    types = []
    for entry in bundle["entry"]:
        rt = entry["resource"]["resourceType"]
        get_fhir_model_class(rt).model_validate(entry["resource"])
        types.append(rt)
    assert sorted(types) == ["GuidanceResponse", "RiskAssessment"]
    assert bundle["type"] == "collection"


def test_validation_is_strict_enough_to_catch_a_misplaced_element() -> None:
    risk = copy.deepcopy(resource(export(full_assessment()), "RiskAssessment"))
    risk["prediction"][0]["qualitativeRisk"]["coding"][0]["codee"] = "high"
    with pytest.raises(ValidationError):
        get_fhir_model_class("RiskAssessment").model_validate(risk)


def test_risk_assessment_fields() -> None:
    assessment = full_assessment()
    bundle = export(assessment)
    risk = resource(bundle, "RiskAssessment")
    assert risk["status"] == "final"
    assert risk["subject"] == {"reference": SUBJECT}
    assert risk["occurrenceDateTime"] == "2026-01-01"
    assert risk["code"] == {"text": RISK_CODE_TEXT}
    assert "2026.1.0" in risk["method"]["text"]
    dcc, kind = risk["prediction"]
    assert dcc["outcome"] == {"text": DCC_OUTCOME_TEXT}
    assert dcc["rationale"] == assessment.dcc_suspicion.summary
    assert kind == {"outcome": {"text": "dystrophic"}, "rationale": assessment.calcinosis.summary}
    assert risk["mitigation"] == "Extract the calcified comedones.\nDo not repeat isotretinoin."
    assert risk["note"] == [{"text": "warning flag-only-calcium: Calcium given as a flag only."}]


def test_basis_lists_each_finding_once_in_first_seen_order() -> None:
    risk = resource(export(full_assessment()), "RiskAssessment")
    assert risk["basis"] == [
        {"reference": f.reference, "display": f.summary} for f in (ACNE, STRETCH, HISTO, CALCIUM)
    ]


@pytest.mark.parametrize(
    ("level", "code", "display"),
    [
        ("high", "high", "High likelihood"),
        ("moderate", "moderate", "Moderate likelihood"),
        ("low", "low", "Low likelihood"),
    ],
)
def test_qualitative_risk_mapping(level: str, code: str, display: str) -> None:
    base = full_assessment()
    assessment = replace(base, dcc_suspicion=replace(base.dcc_suspicion, level=level))
    dcc = resource(export(assessment), "RiskAssessment")["prediction"][0]
    assert dcc["qualitativeRisk"] == {
        "coding": [{"system": CodeSystem.RISK_PROBABILITY, "code": code, "display": display}]
    }


def test_not_applicable_suspicion_has_no_qualitative_risk_and_says_why() -> None:
    risk = resource(export(minimal_assessment()), "RiskAssessment")
    dcc = risk["prediction"][0]
    assert "qualitativeRisk" not in dcc
    assert (
        dcc["rationale"] == "No qualitative risk: DCC suspicion is not applicable. No acne history."
    )
    assert risk["prediction"][1]["outcome"] == {"text": "undetermined"}
    assert "mitigation" not in risk and "note" not in risk


@pytest.mark.parametrize(
    ("kind", "missing", "status"),
    [
        ("dystrophic", False, "success"),
        ("none", False, "success"),
        ("dystrophic", True, "data-requested"),
        ("undetermined", True, "data-required"),
        ("undetermined", False, "data-required"),
    ],
)
def test_guidance_status(kind: str, missing: bool, status: str) -> None:
    base = full_assessment()
    gap = (MissingData("serum-phosphate", "No phosphate.", "Ca x P"),) if missing else ()
    assessment = replace(base, calcinosis=replace(base.calcinosis, type=kind), missing_data=gap)
    guidance = resource(export(assessment), "GuidanceResponse")
    assert guidance["status"] == status
    assert guidance.get("dataRequirement", []) == (
        [{"id": "serum-phosphate", "type": "Observation"}] if missing else []
    )


def test_guidance_response_fields() -> None:
    bundle = export(full_assessment())
    guidance = resource(bundle, "GuidanceResponse")
    assert guidance["moduleUri"] == "urn:calcinosis:knowledge:2026.1.0"
    assert guidance["subject"] == {"reference": SUBJECT}
    assert guidance["occurrenceDateTime"] == "2026-01-01"
    assert "outputParameters" not in guidance
    risk_entry = next(
        e for e in bundle["entry"] if e["resource"]["resourceType"] == "RiskAssessment"
    )
    guidance_entry = next(e for e in bundle["entry"] if e["resource"] is guidance)
    assert risk_entry["resource"]["parent"] == {"reference": guidance_entry["fullUrl"]}


@BOTH
def test_notes_carry_every_statement_and_citation(make: Any) -> None:
    assessment = make()
    notes = [n["text"] for n in resource(export(assessment), "GuidanceResponse")["note"]]
    for section, statement in assessment.statements():
        key = getattr(statement, "id", None) or getattr(statement, "level", None) or statement.type
        prefix = f"{section} {key}: {statement.summary}"
        [note] = [n for n in notes if n.startswith(prefix)]
        refs = [f.reference for f in statement.basis.findings]
        if refs:
            assert f"[findings: {', '.join(refs)}]" in note
        if statement.basis.rules:
            assert f"[rules: {', '.join(statement.basis.rules)}]" in note
        assert f"[citations: {', '.join(statement.basis.citations)}]" in note
    for citation in assessment.citations:
        assert any(n.startswith(f"citation {citation.id}: {citation.text}") for n in notes)
    for item in assessment.missing_data:
        assert any(n.startswith(f"missing_data {item.id}: {item.summary}") for n in notes)


def test_note_texts_exactly() -> None:
    notes = [n["text"] for n in resource(export(full_assessment()), "GuidanceResponse")["note"]]
    assert notes[0] == (
        "dcc_suspicion high: Hard comedones that resisted isotretinoin. "
        "[findings: Condition/acne, Observation/stretch] [rules: dcc-hard-comedones] "
        "[citations: palanivel-2026]"
    )
    assert (
        "workup serum-phosphate: Measure serum phosphate. [rules: rule-x] "
        "[citations: palanivel-2026]" in notes
    )
    assert notes[-2:] == [
        "citation palanivel-2026: Palanivel et al. 2026. doi:10.46889/JDR.2026.7105",
        "citation other-2020: Another source. pmid:12345",
    ]


@BOTH
def test_export_is_deterministic(make: Any) -> None:
    first, second = export(make()), export(make())
    assert first == second
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["timestamp"] == "2026-01-01T00:00:00Z"


def test_ids_derive_from_patient_knowledge_and_date() -> None:
    base = full_assessment()
    ids = {e["fullUrl"] for e in export(base)["entry"]} | {export(base)["id"]}
    for changed in (
        replace(base, as_of="2026-01-02"),
        replace(base, knowledge_version="2026.2.0"),
        replace(base, patient=replace(base.patient, id="p-9")),
    ):
        other = export(changed)
        assert ids.isdisjoint({e["fullUrl"] for e in other["entry"]} | {other["id"]})
    for entry in export(base)["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    assert export(base, bundle_id="my-bundle")["id"] == "my-bundle"


@BOTH
def test_no_null_or_blank_values_anywhere(make: Any) -> None:
    for path, value in walk(export(make())):
        assert value is not None, path
        if isinstance(value, str | list | dict):
            assert len(value) > 0, path
        if isinstance(value, str):
            assert value == value.strip(), path


def test_blank_finding_summary_leaves_no_empty_display() -> None:
    risk = resource(export(minimal_assessment()), "RiskAssessment")
    assert risk["basis"] == [{"reference": "Observation/x"}]


@BOTH
def test_references_resolve_in_bundle_or_name_the_subject_or_an_input(make: Any) -> None:
    assessment = make()
    bundle = export(assessment)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    inputs = {f.reference for _, s in assessment.statements() for f in s.basis.findings}
    refs = [(p, v) for p, v in walk(bundle) if p.endswith(".reference")]
    assert refs
    for path, ref in refs:
        if re.search(r"\.basis\[\d+\]\.reference$", path):
            assert ref in inputs, path
        else:
            assert ref == SUBJECT or ref in full_urls, path


@pytest.mark.parametrize("as_of", ["", "2026-13-01", "20260101"])
def test_unusable_as_of_is_refused(as_of: str) -> None:
    with pytest.raises(ValueError, match="as_of"):
        export(replace(full_assessment(), as_of=as_of))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"subject_reference": " "}, "subject_reference"),
        ({"subject_reference": SUBJECT, "bundle_id": "has space"}, "bundle_id"),
        ({"subject_reference": SUBJECT, "bundle_id": ""}, "bundle_id"),
    ],
)
def test_unusable_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        assessment_to_fhir(full_assessment(), **kwargs)
