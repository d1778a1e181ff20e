"""FHIR ingest: bundle types, reference forms, statuses, orders and refusals."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

import calcinosis
from builder import Bundle, acne_with_hard_papules
from calcinosis.core.knowledge import load_knowledge
from calcinosis.errors import (
    InvalidResourceError,
    MultiplePatientsError,
    NoPatientError,
    NotABundleError,
)
from calcinosis.fhir.ingest import case_from_bundle

KB = load_knowledge()


def level(bundle: dict[str, Any]) -> str:
    result = calcinosis.assess_bundle(bundle, as_of=dt.date(2026, 1, 1))
    return result.dcc_suspicion.level


@pytest.mark.parametrize(
    "subject",
    ["Patient/p1", "urn:uuid:p1", "https://ehr.example.org/fhir/Patient/p1"],
)
def test_every_reference_form_reaches_the_patient(subject: str) -> None:
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0")["subject"] = {"reference": subject}
    assert level(b.build()) == "low"


def test_resources_of_another_subject_are_not_this_patients() -> None:
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0")["subject"] = {"reference": "Patient/other"}
    assert level(b.build()) == "not-applicable"


@pytest.mark.parametrize("kind", ["searchset", "transaction", "batch", "document"])
def test_any_bundle_type_is_read(kind: str) -> None:
    b = acne_with_hard_papules()
    bundle = b.build()
    bundle["type"] = kind
    bundle["entry"].append({"search": {"mode": "outcome"}})  # an entry without a resource
    assert level(bundle) == "moderate"


def test_undotted_and_who_icd10_codes_are_matched() -> None:
    b = Bundle()
    b.add(
        {
            "resourceType": "Condition",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "L700"}]},
        }
    )
    case = case_from_bundle(b.build(), KB)
    assert "acne" in {f.concept for f in case.facts if f.present}


def test_medication_request_proves_exposure_not_response() -> None:
    b = acne_with_hard_papules()
    b.add(
        {
            "resourceType": "MedicationRequest",
            "status": "completed",
            "intent": "order",
            "medicationReference": {"reference": "#iso"},
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "iso",
                    "code": {"text": "Isotretinoin 20 mg capsule"},
                }
            ],
            "authoredOn": "2022-03-01",
        }
    )
    case = case_from_bundle(b.build(), KB)
    orders = [m for m in case.medications if m.is_order]
    assert orders[0].concepts == frozenset({"isotretinoin"})
    assert orders[0].response == "unknown"
    assert level(b.build()) == "moderate"


def test_topical_clindamycin_is_not_an_oral_antibiotic() -> None:
    b = Bundle()
    b.med("Clindamycin 1% lotion", "no response")
    b.med("Doxycycline 100 mg by mouth", "no response", rxnorm="3640")
    case = case_from_bundle(b.build(), KB)
    concepts = [m.concepts for m in case.medications]
    assert concepts == [frozenset({"topical-acne-treatment"}), frozenset({"oral-antibiotic"})]


def test_entered_in_error_and_cancelled_are_skipped() -> None:
    b = Bundle()
    b.lab("2777-1", "Phosphate", 9.0, "mg/dL")["status"] = "entered-in-error"
    b.lab("17861-6", "Calcium", 12.0, "mg/dL")["status"] = "cancelled"
    assert case_from_bundle(b.build(), KB).labs == ()


def test_latest_result_is_the_current_state() -> None:
    b = Bundle()
    b.condition("Healed abrasion scar", icd="L90.5")
    b.lab("2777-1", "Phosphate", 7.9, "mg/dL", when="2025-06-01")
    b.lab("2777-1", "Phosphate", 3.4, "mg/dL", when="2025-12-28")
    b.lab("17861-6", "Calcium", 9.5, "mg/dL", when="2025-12-28")
    b.exam("Calcium deposits identified on histology", valueBoolean=True)
    result = calcinosis.assess_bundle(b.build(), as_of=dt.date(2026, 1, 1))
    assert result.calcinosis.type == "dystrophic"


def test_plain_text_note_is_read_negation_aware() -> None:
    note = "Hard papules on the cheeks for 10 years. No pain. Mother has lupus."
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0")
    b.add(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain",
                        "data": base64.b64encode(note.encode()).decode(),
                    }
                }
            ],
        }
    )
    facts = {(f.concept, f.present) for f in case_from_bundle(b.build(), KB).facts}
    assert ("pain", False) in facts
    assert ("lupus", True) not in facts


def test_refusals_carry_contract_codes() -> None:
    with pytest.raises(NotABundleError) as e1:
        case_from_bundle({"resourceType": "Patient"}, KB)
    assert e1.value.code == "not-a-bundle"
    with pytest.raises(NoPatientError) as e2:
        case_from_bundle({"resourceType": "Bundle", "entry": []}, KB)
    assert e2.value.code == "no-patient"
    two = Bundle()
    two.add({"resourceType": "Patient", "id": "p2"})
    with pytest.raises(MultiplePatientsError) as e3:
        case_from_bundle(two.build(), KB)
    assert e3.value.code == "multiple-patients"
    bad = Bundle(birth="1990-13-45")
    with pytest.raises(InvalidResourceError) as e4:
        case_from_bundle(bad.build(), KB)
    assert e4.value.code == "invalid-resource"


def test_a_resource_that_is_not_an_object_is_named() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{"resource": "Patient"}]}
    with pytest.raises(InvalidResourceError, match=r"entry\[0\]\.resource must be an object"):
        case_from_bundle(bundle, KB)
