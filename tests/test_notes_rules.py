"""Regression tests for misreadings found on the tuning notes, each fixed by a rule in the
knowledge data (notes.yaml, value sets), never by a special case in code. The expected values
come from reading the sentences."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

import calcinosis
from builder import Bundle
from calcinosis.core.knowledge import load_knowledge
from calcinosis.core.notes import NoteFinding, extract
from calcinosis.fhir.ingest import case_from_bundle

KB = load_knowledge()
AS_OF = dt.date(2026, 1, 1)


def findings(text: str) -> list[NoteFinding]:
    return list(extract(text, KB).findings)


def found(text: str) -> set[tuple[str, str, str]]:
    return {(f.kind, f.concept, f.status) for f in findings(text)}


def concepts(text: str) -> set[str]:
    return {f.concept for f in findings(text) if f.kind == "finding"}


def contexts(text: str) -> dict[str, str]:
    return {f.concept: f.context for f in findings(text) if f.kind == "finding"}


def durations(text: str) -> list[float]:
    return [f.duration_days or 0.0 for f in findings(text) if f.kind == "lesion-duration"]


def with_note(bundle: Bundle, text: str) -> Bundle:
    data = base64.b64encode(text.encode()).decode()
    bundle.add(
        {
            "resourceType": "DocumentReference",
            "id": "note1",
            "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
        }
    )
    return bundle


# ---------------------------------------------------------------------- (a) marrow is not bone
def test_no_marrow_elements_does_not_negate_bone() -> None:
    got = found("Histology: dermal calcium deposits, no marrow elements.\n")
    assert ("finding", "histology-calcium", "affirmed") in got
    assert "histology-bone" not in {concept for _, concept, _ in got}


def test_bone_with_marrow_is_bone_and_only_bone() -> None:
    got = found("Histology: lamellar bone with marrow elements in the dermis.\n")
    assert {status for _, concept, status in got if concept == "histology-bone"} == {"affirmed"}


def test_a_bone_marrow_transplant_is_no_bone_in_the_skin() -> None:
    assert not {"bone", "histology-bone"} & concepts("PMH: bone marrow transplant in 2015.\n")
    assert not {"bone", "histology-bone"} & concepts(
        "Biopsy: dermal calcium deposits. Bone marrow biopsy last year was normal.\n"
    )


def test_a_pathologist_writing_no_marrow_leaves_the_bone_on_histology_alone() -> None:
    b = Bundle()
    b.add(
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": {"text": "Skin histopathology report"},
            "conclusion": "Specimen: punch biopsy. Spicules of lamellar bone with osteocytes "
            "in the dermis. No calcium deposits, no marrow.",
        }
    )
    facts = [f for f in case_from_bundle(b.build(), KB).facts if f.concept == "histology-bone"]
    assert facts and all(f.present for f in facts)


# ---------------------------------------------------------------------- (b) kidney disease
@pytest.mark.parametrize(
    ("sentence", "status"),
    [
        ("Known kidney disease.", "affirmed"),
        ("Kidney disease, on ramipril.", "affirmed"),
        ("No history of kidney disease.", "negated"),
        ("Denies renal disease.", "negated"),
        ("PMH: chronic kidney disease stage 4.", "historical"),
    ],
)
def test_kidney_disease_alone_is_chronic_kidney_disease(sentence: str, status: str) -> None:
    assert ("finding", "ckd", status) in found(sentence + "\n")


def test_kidney_disease_with_a_stage_is_also_advanced() -> None:
    got = found("Chronic kidney disease stage 4.\nStage 5 kidney disease.\nCKD G5D.\n")
    assert ("finding", "advanced-ckd", "affirmed") in got
    assert ("finding", "ckd", "affirmed") in got
    assert {f.start for f in findings("Stage 5 kidney disease.") if f.concept == "ckd"} == {0}


def test_kidney_disease_in_a_note_reaches_the_case() -> None:
    b = with_note(Bundle(), "Background: chronic kidney disease stage 4, not on dialysis.\n")
    facts = {(f.concept, f.present) for f in case_from_bundle(b.build(), KB).facts}
    assert ("ckd", True) in facts
    assert ("advanced-ckd", True) in facts
    assert ("dialysis", False) in facts


# ---------------------------------------------------------------------- (c) "for N years"
@pytest.mark.parametrize(
    "sentence",
    [
        "Type 2 diabetes, on metformin for 5 years.",
        "Smoker for 10 years.",
        "Worked as a welder for 20 years.",
    ],
)
def test_years_of_something_else_are_not_persistent_lesions(sentence: str) -> None:
    got = findings(sentence)
    assert "persistent" not in {f.concept for f in got}
    assert not [f for f in got if f.kind == "lesion-duration"]


def test_a_duration_belongs_to_what_is_named_next_to_it() -> None:
    assert durations("Hard papules on the cheeks; diabetic on metformin for 5 years.") == []
    assert durations("Hypertension for 3 years, hard papules on the chin for 6 months.") == [
        pytest.approx(182.62, abs=0.01)
    ]
    assert durations("Hard papules on the cheeks, present for 2 years.") == [730.5]
    assert durations("For 2 years, hard papules on the chin.") == [730.5]
    assert durations("2-year history of hard papules on the chin.") == [730.5]
    assert durations("Comedonal acne for 2 years.") == [730.5]


def test_years_without_a_number_still_mean_persistent() -> None:
    assert "persistent" in concepts("Hard papules that have been there for years.")
    assert "persistent" in concepts("Lesions present for many years.")
    assert "persistent" not in concepts("Hard papules on the cheeks for 2 years.")


def test_a_drug_taken_for_years_does_not_make_recent_papules_persistent() -> None:
    b = Bundle()
    b.condition("Acne vulgaris", icd="L70.0")
    with_note(
        b,
        "Hard papules on the cheeks for 4 months.\n"
        "Background: type 2 diabetes, on metformin for 5 years.\n",
    )
    case = case_from_bundle(b.build(), KB)
    assert case.lesions.duration_days == pytest.approx(121.75, abs=0.01)
    assert not any(f.concept == "persistent" for f in case.facts)
    result = calcinosis.assess_bundle(b.build(), as_of=AS_OF).to_dict()
    assert "persistent" not in result["dcc_suspicion"]["summary"]


# ---------------------------------------------------------------------- (d) examination words
def test_an_examination_word_is_not_overridden_by_a_later_context_word() -> None:
    got = contexts("On examination hard papules on the chin, previously biopsied.")
    assert got["consistency-hard"] == "exam"
    assert got["sites-face"] == "exam"


def test_a_later_context_word_past_a_described_lesion_does_not_take_it_over() -> None:
    got = contexts("Examination: hard nodules on the elbows, one discharging chalky material.\n")
    assert got == {
        "consistency-hard": "exam",
        "sites-joints": "exam",
        "chalky-material": "extraction",
    }
    assert contexts("Examination: firm papules on the cheeks, punch biopsy taken.\n") == {
        "consistency-firm": "exam",
        "sites-face": "exam",
    }
    # a context word right after what it describes still places it
    assert ("finding", "chalky-material", "affirmed") in found(
        "Hard, rounded, calcified material on extraction."
    )
    assert contexts("Calcified nodules seen on the X-ray.")["imaging-calcification"] == "imaging"


def test_examination_findings_next_to_a_biopsy_word_reach_the_lesions() -> None:
    b = with_note(Bundle(), "O/E: firm papules on the cheeks, one of them biopsied in May.\n")
    lesions = case_from_bundle(b.build(), KB).lesions
    assert lesions.consistency == ("firm",)
    assert lesions.sites == ("sites-face",)


# ---------------------------------------------------------------------- (e) "for the past N years"
def lesion_counts(text: str) -> list[int | None]:
    return [f.count for f in findings(text) if f.kind == "lesion-count"]


@pytest.mark.parametrize(
    ("sentence", "days"),
    [
        ("For the past 5 years she has had hard whitish papules on the cheeks.", 5 * 365.25),
        ("Over the past 3 years he has developed hard papules on the chin.", 3 * 365.25),
        ("In the last 2 years she has developed hard papules on the forehead.", 2 * 365.25),
        ("In the past 2 years she has developed hard papules on the chin.", 2 * 365.25),
        ("For the past four years she has had hard papules on the cheeks.", 4 * 365.25),
    ],
)
def test_the_past_n_years_is_how_long_the_lesions_have_been_there(
    sentence: str, days: float
) -> None:
    got = found(sentence)
    # an ongoing span up to now: the papules are there today, not past history
    assert ("finding", "consistency-hard", "affirmed") in got
    assert ("finding", "sites-face", "affirmed") in got
    assert not {status for _, _, status in got} & {"historical", "negated"}
    assert durations(sentence) == [pytest.approx(days)]
    # N counts years, not papules
    assert lesion_counts(sentence) == []


def test_a_count_next_to_the_past_n_years_is_still_a_count() -> None:
    sentence = "For the past 3 years, 20 hard papules on the cheeks."
    assert lesion_counts(sentence) == [20]
    assert durations(sentence) == [pytest.approx(3 * 365.25)]
    assert lesion_counts("About 20 hard papules on the cheeks for 3 years.") == [20]
    assert lesion_counts("Count: 4 papules on the cheeks.") == [4]


@pytest.mark.parametrize(
    ("sentence", "concept", "status"),
    [
        ("No history of acne in the past.", "acne", "negated"),
        ("Had acne in the past, now clear.", "acne", "historical"),
        ("History of acne in the past.", "acne", "historical"),
        ("Previous acne, now clear.", "acne", "historical"),
    ],
)
def test_history_in_the_past_stays_history(sentence: str, concept: str, status: str) -> None:
    got = {(c, s) for kind, c, s in found(sentence) if kind == "finding"}
    assert (concept, status) in got
    assert (concept, "affirmed") not in got


@pytest.mark.parametrize(
    "sentence",
    [
        "Hard papules on the cheeks that did not change with a 7-month course of isotretinoin.",
        "Hard papules on the cheeks that did not change with a 7-month isotretinoin course.",
    ],
)
def test_a_drug_course_written_before_the_drug_is_the_drugs_duration(sentence: str) -> None:
    assert durations(sentence) == []
    (med,) = [f for f in findings(sentence) if f.kind == "medication"]
    assert med.duration_days == pytest.approx(7 * 365.25 / 12)
    # the lesions' own span in the same sentence is theirs
    both = (
        "For the past 4 years she has had hard papules on the cheeks that did not change with "
        "a 7-month course of isotretinoin."
    )
    assert durations(both) == [pytest.approx(4 * 365.25)]
    assert durations("She has a 2-year history of hard papules on the chin.") == [730.5]


# ---------------------------------------------------------------------- (f) "did not change with"
@pytest.mark.parametrize(
    "sentence",
    [
        "Hard papules that did not change with a 7-month course of isotretinoin.",
        "The hard papules did not improve with isotretinoin.",
        "The papules didn't change on isotretinoin.",
        "No change with isotretinoin.",
        "No change on isotretinoin.",
        "The papules were unchanged despite isotretinoin.",
        "The papules were unchanged after a course of isotretinoin.",
        "Isotretinoin has not changed the papules.",
    ],
)
def test_a_course_that_changed_nothing_was_taken_and_failed(sentence: str) -> None:
    meds = [f for f in findings(sentence) if f.kind == "medication"]
    assert [(f.concept, f.status, f.response) for f in meds] == [
        ("isotretinoin", "affirmed", "no response")
    ]


def test_the_negation_of_did_not_change_is_not_the_papules() -> None:
    got = found("Isotretinoin did not change the hard papules.")
    assert ("finding", "consistency-hard", "affirmed") in got
    assert ("finding", "consistency-hard", "negated") not in got


@pytest.mark.parametrize(
    "sentence",
    [
        "She was not given isotretinoin.",
        "No isotretinoin.",
        "Isotretinoin not started; the papules did not change.",
        "She has never taken isotretinoin.",
    ],
)
def test_a_drug_never_taken_stays_negated(sentence: str) -> None:
    meds = [f for f in findings(sentence) if f.kind == "medication"]
    assert [(f.concept, f.status) for f in meds] == [("isotretinoin", "negated")]


def test_a_narrative_note_alone_gives_both_pillars() -> None:
    """The synthetic profile dcc-acne-note-narrative: hard papules for years that did not
    change with a full isotretinoin course, normal calcium and phosphate, told in prose."""
    b = Bundle(birth="1994-05-01")
    with_note(
        b,
        "Seen in the dermatology clinic. Acne since age 14. For the past 4 years she has had "
        "hard whitish papules on the cheeks and forehead that did not change with a 7-month "
        "course of isotretinoin.\n"
        "On examination there are about 20 hard whitish papules on the cheeks and forehead "
        "with no comedonal opening; they are painless.\n"
        "Ca 2.31 mmol/L, phosphate 1.10 mmol/L, albumin 42 g/L, creatinine 70 µmol/L.\n",
    )
    case = case_from_bundle(b.build(), KB)
    assert case.lesions.duration_days == pytest.approx(4 * 365.25)
    assert case.lesions.count == 20
    assert [(m.concepts, m.response) for m in case.medications] == [
        (frozenset({"isotretinoin"}), "no response")
    ]
    result = calcinosis.assess_bundle(b.build(), as_of=AS_OF).to_dict()
    assert (result["dcc_suspicion"]["level"], result["calcinosis"]["type"]) == (
        "high",
        "dystrophic",
    )


@pytest.mark.parametrize(
    ("sentence", "months"),
    [
        ("Isotretinoin 20 mg twice a day for 6 months, no change.", 6),
        ("Isotretinoin 40 mg a day for 5 months, no change.", 5),
        ("Doxycycline 100 mg once a day for 3 months: partial response.", 3),
    ],
)
def test_how_often_a_dose_is_taken_is_not_how_long(sentence: str, months: int) -> None:
    (med,) = [f for f in findings(sentence) if f.kind == "medication"]
    assert med.duration_days == pytest.approx(months * 365.25 / 12)
