"""The structured case form: form values -> checked CaseForm -> FHIR Bundle -> assessment.

The Bundle must have the shape fhir-profile.md describes and carry only codes the knowledge base
lists; what the engine then reads back (concepts, converted labs, calculations) is checked
through the real ingest and rules, not through our own expectations of the form.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import calcinosis
from calcinosis.core.assessment import Assessment
from calcinosis.core.codes import CodeSystem
from calcinosis.fhir.ingest import case_from_bundle
from calcinosis.web.ui import form_spec
from calcinosis.web.ui.case_form import FormInvalid, read_case_form
from calcinosis.web.ui.form_bundle import EXAM_LABELS, bundle_from_form
from calcinosis.web.ui.form_spec import FormSpec

KB = calcinosis.load_knowledge()
SPEC = FormSpec.from_knowledge(KB)
AS_OF = dt.date(2026, 1, 1)
UI_SOURCES = Path(form_spec.__file__).resolve().parent

# Like the seed case (Palanivel & Rao 2026): teen-onset acne, isotretinoin failed, hard
# skin-coloured papules on the cheeks that show on stretching, chalky material on extraction.
SEED_LIKE = {
    "as_of": "2026-01-01",
    "age": "29",
    "sex": "female",
    "acne": "active",
    "acne_onset": "teens",
    "isotretinoin_response": "no response",
    "oral_antibiotic_response": "partial",
    "morphology": "comedo-like papules",
    "consistency": "hard",
    "colour": "skin-coloured",
    "sites": ["cheeks", "forehead"],
    "stretching": "yes",
    "chalky": "yes",
}


def raw(fields: Mapping[str, str | list[str]]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in fields.items()}


def build(fields: Mapping[str, str | list[str]]) -> tuple[dict[str, Any], Assessment]:
    form = read_case_form(raw(fields), SPEC, today=AS_OF)
    bundle = bundle_from_form(form, KB)
    return bundle, calcinosis.assess_bundle(bundle, as_of=form.as_of, knowledge=KB)


def resources(bundle: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_text(bundle: Mapping[str, Any], text: str) -> dict[str, Any]:
    found = [r for r in resources(bundle, "Observation") if r["code"].get("text") == text]
    assert len(found) == 1, text
    return found[0]


def codings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "system" in node and "code" in node:
            yield node
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for item in node:
            yield from codings(item)


def test_a_seed_like_case_gives_high_suspicion_of_dystrophic_calcinosis() -> None:
    _, assessment = build(SEED_LIKE)
    assert assessment.dcc_suspicion.level == "high"
    top3 = [s.id for s in assessment.differential[:3]]
    assert "calcinosis-cutis-dystrophic" in top3
    assert assessment.as_of == "2026-01-01"


def test_the_bundle_has_the_profile_shape() -> None:
    bundle, _ = build(SEED_LIKE)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-01-01T00:00:00Z"
    (patient,) = resources(bundle, "Patient")
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1997-01-01"  # exactly 29 on the reference date
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        if entry["resource"] is not patient:
            assert entry["resource"]["subject"] == {"reference": f"urn:uuid:{patient['id']}"}
    (acne,) = resources(bundle, "Condition")
    assert acne["code"]["text"] == "Acne since the teens"
    assert acne["onsetString"] == "teens"
    assert acne["recordedDate"] == "2026-01-01"
    statements = resources(bundle, "MedicationStatement")
    notes = sorted(s["note"][0]["text"] for s in statements)
    assert notes == ["Treatment response: no response.", "Treatment response: partial."]
    exam = [r for r in resources(bundle, "Observation")]
    assert {r["code"]["text"] for r in exam} <= set(KB.exam_labels)
    assert all("coding" not in r["code"] for r in exam)  # exam rows are code.text only
    assert all(r["bodySite"] == {"text": "cheeks, forehead"} for r in exam)
    assert by_text(bundle, "Skin lesion consistency on palpation")["valueCodeableConcept"] == {
        "text": "hard"
    }
    assert by_text(bundle, "Lesions more visible when the skin is stretched")["valueBoolean"]


def test_drugs_are_coded_only_where_the_code_is_the_drug() -> None:
    bundle, _ = build(SEED_LIKE)
    by_text_ = {
        s["medicationCodeableConcept"]["text"]: s for s in resources(bundle, "MedicationStatement")
    }
    iso = by_text_["Isotretinoin, oral"]["medicationCodeableConcept"]["coding"]
    assert [(c["system"], KB.codes[("rxnorm", c["code"])]) for c in iso] == [
        (CodeSystem.RXNORM.value, ("isotretinoin",))
    ]
    # The value set's RxNorm code for "oral antibiotic" is one agent: the class stays text.
    assert "coding" not in by_text_["Oral antibiotic for acne"]["medicationCodeableConcept"]


def test_every_code_and_system_comes_from_the_knowledge_base() -> None:
    fields = {
        **SEED_LIKE,
        "ctd": "lupus",
        "kidney": "dialysis",
        "history": ["trauma", "scar", "extravasation"],
        "calcium_infusion": "yes",
        "histology_calcium": "yes",
        "lab_calcium_value": "9.4",
        "lab_albumin_value": "40",
        "lab_albumin_unit": "g/L",
        "lab_vitamin_d_25_flag": "normal",
    }
    bundle, _ = build(fields)
    systems = {str(s) for s in CodeSystem}
    keys = {CodeSystem.ICD10CM: "icd10cm", CodeSystem.SNOMED: "snomed", CodeSystem.RXNORM: "rxnorm"}
    clinical = 0
    for coding in codings(bundle):
        assert coding["system"] in systems
        system = CodeSystem(coding["system"])
        if system in keys:
            clinical += 1
            assert (keys[system], coding["code"]) in KB.codes
        elif system is CodeSystem.LOINC:
            clinical += 1
            assert coding["code"] in KB.loinc_to_analyte
    assert clinical >= 5


def test_history_choices_are_read_back_as_their_concepts() -> None:
    fields = {
        "age": "50",
        "sex": "male",
        "ctd": "systemic-sclerosis",
        "kidney": "advanced-ckd",
        "history": ["trauma", "scar", "extravasation"],
        "calcium_infusion": "yes",
        "history_text": "primary hyperparathyroidism",
    }
    bundle, _ = build(fields)
    case = case_from_bundle(bundle, KB)
    concepts = {f.concept for f in case.facts if f.present}
    assert {
        "systemic-sclerosis",
        "advanced-ckd",
        "ckd",
        "trauma",
        "scar",
        "extravasation",
    } <= concepts
    assert "primary-hyperparathyroidism" in concepts
    assert any("calcium-infusion" in m.concepts for m in case.medications)


def test_every_choice_of_the_form_means_something_to_the_engine() -> None:
    for option in form_spec.SITES:
        hits = KB.findings_matcher.find(option.value)
        assert any(h.concept.startswith("sites-") for h in hits), option.value
    for option in form_spec.COLOURS[1:]:
        assert any(
            h.concept.startswith("colour-") or h.concept == "inflammation"
            for h in KB.findings_matcher.find(option.value)
        ), option.value
    for treatment in form_spec.TREATMENTS:
        hits = {h.concept for h in KB.medication_matcher.find(treatment.text)}
        assert treatment.concept in hits
    for lab in SPEC.labs:
        analyte = KB.analytes[lab.analyte]
        assert lab.units[0].value == analyte.unit
        for unit in lab.units:
            assert KB.units.is_convertible(unit.value, analyte.unit or "", analyte.molar_mass)


def test_si_units_give_the_same_calculations_as_conventional_ones() -> None:
    base = {"age": "60", "sex": "female"}
    conventional = {
        **base,
        "lab_calcium_value": "10.02",
        "lab_albumin_value": "3",
        "lab_phosphate_value": "4.646",
        "lab_creatinine_value": "1",
    }
    si = {
        **base,
        "lab_calcium_value": "2,5",  # a decimal comma, as many lab printouts have it
        "lab_calcium_unit": "mmol/L",
        "lab_albumin_value": "30",
        "lab_albumin_unit": "g/L",
        "lab_phosphate_value": "1.5",
        "lab_phosphate_unit": "mmol/L",
        "lab_creatinine_value": "88.4",
        "lab_creatinine_unit": "umol/L",
    }
    bundle, by_si = build(si)
    _, by_conventional = build(conventional)
    ids = ["corrected-calcium", "calcium-phosphate-product", "egfr-ckd-epi-2021"]
    assert [c.id for c in by_si.calculations] == ids
    for a, b in zip(by_si.calculations, by_conventional.calculations, strict=True):
        assert a.id == b.id
        assert a.get("unit") == b.get("unit")
        assert a.get("value") == pytest.approx(b.get("value"), rel=0.01)
    calcium = by_text(bundle, "Serum calcium (total)")
    assert calcium["valueQuantity"] == {
        "value": 2.5,
        "unit": "mmol/L",
        "system": CodeSystem.UCUM.value,
        "code": "mmol/L",
    }
    # A molar result is not sent under the mass LOINC code; albumin in g/L is still mass.
    assert "coding" not in calcium["code"]
    albumin = by_text(bundle, "Serum albumin")["code"]["coding"]
    assert [c["code"] for c in albumin] == [KB.analytes["albumin"].loinc[0]]


def test_a_flag_without_a_number_is_sent_as_an_interpretation_only() -> None:
    bundle, assessment = build({"lab_phosphate_flag": "normal"})
    phosphate = by_text(bundle, "Serum phosphate")
    assert "valueQuantity" not in phosphate
    (interpretation,) = list(codings(phosphate["interpretation"]))
    assert (interpretation["system"], interpretation["code"]) == (
        CodeSystem.INTERPRETATION.value,
        "N",
    )
    assert phosphate["code"]["coding"][0]["code"] == KB.analytes["phosphate"].loinc[0]
    assert assessment.patient.sex == "unknown"


def test_a_course_length_becomes_a_period_ending_on_the_assessment_date() -> None:
    bundle, assessment = build({**SEED_LIKE, "isotretinoin_months": "2"})
    (iso,) = [
        s
        for s in resources(bundle, "MedicationStatement")
        if "coding" in s["medicationCodeableConcept"]
    ]
    assert iso["effectivePeriod"] == {"start": "2025-11-01", "end": "2026-01-01"}
    assert iso["status"] == "stopped"
    assert iso["note"][0]["text"].startswith("Treatment response: no response. Course of 2 months")
    # Two months is shorter than an adequate course: the engine must not count it as a failure.
    rules = {r for s in [assessment.dcc_suspicion] for r in s.basis.rules}
    assert "suspicion.isotretinoin-failure" not in rules


def test_histology_becomes_a_report_with_its_result_observations() -> None:
    bundle, _ = build(
        {
            **SEED_LIKE,
            "histology_calcium": "yes",
            "histology_bone": "no",
            "von_kossa": "positive",
            "histology_text": "Dermal calcified nodules.",
        }
    )
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["code"] == {"text": "Skin histopathology report"}
    assert report["conclusion"] == "Specimen: skin lesion. Dermal calcified nodules."
    assert report["category"][0]["coding"][0]["system"] == CodeSystem.DIAGNOSTIC_SERVICE.value
    results = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    texts = {
        results[r["reference"]]["code"]["text"]: results[r["reference"]] for r in report["result"]
    }
    assert texts["Calcium deposits identified on histology"]["valueBoolean"] is True
    assert (
        texts["Bone (ossification with osteocytes) identified on histology"]["valueBoolean"]
        is False
    )
    assert texts["Special stains"]["valueString"] == "von Kossa: positive"


def test_an_empty_form_is_a_patient_with_nothing_stated() -> None:
    bundle, assessment = build({})
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient"]
    assert assessment.dcc_suspicion.level == "not-applicable"
    assert assessment.patient.age_years is None


def test_every_bad_value_is_reported_at_once_with_its_field() -> None:
    fields = {
        "age": "twenty",
        "acne_years": "40",
        "lab_calcium_value": "abc",
        "lab_calcium_unit": "mg",
        "lab_phosphate_value": "-1",
        "sites": ["cheeks", "moon"],
        "isotretinoin_months": "6",
        "as_of": "01/01/2026",
        "count": "0",
        "findings_text": "x" * 2001,
    }
    with pytest.raises(FormInvalid) as caught:
        read_case_form(raw(fields), SPEC, today=AS_OF)
    errors = caught.value.errors
    assert errors == {
        "as_of": "Assessment date: '01/01/2026' is not a date in the form YYYY-MM-DD",
        "age": "Age: 'twenty' is not a whole number",
        "isotretinoin_response": "Isotretinoin (oral): choose how the acne responded (or 'Given, "
        "response not known'), or clear the duration",
        "lab_calcium_value": "Serum calcium (total): 'abc' is not a number (use digits, e.g. 2.5)",
        "lab_calcium_unit": "Serum calcium (total): unit: 'mg' is not one of the choices offered",
        "lab_phosphate_value": "Serum phosphate: '-1' is out of range (above 0 to 100000)",
        "sites": "Sites: 'moon' is not one of the choices offered",
        "count": "Number of lesions: 0 is out of range (1 to 10000)",
        "findings_text": "Other clinical findings: at most 2000 characters, not 2001",
    }


def test_years_with_acne_cannot_exceed_the_age() -> None:
    with pytest.raises(FormInvalid) as caught:
        read_case_form(raw({"age": "20", "acne_years": "25"}), SPEC, today=AS_OF)
    assert caught.value.errors == {"acne_years": "Years with acne (25) cannot exceed the age (20)"}


def test_every_exam_label_the_form_uses_is_one_the_knowledge_lists() -> None:
    assert set(EXAM_LABELS) <= set(KB.exam_labels)


def test_the_ui_spells_no_uri_of_its_own() -> None:
    """Code-system URIs come from CodeSystem; DOI and PubMed links live in the templates."""
    offenders = [
        f"{path.name}:{n}"
        for path in sorted(UI_SOURCES.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"https?://", line)
    ]
    assert offenders == []
