"""Code-system URIs and code validators (LOINC mod 10, SNOMED Verhoeff, ICD-10-CM, RxNorm)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcinosis.core.codes import (
    CodeSystem,
    icd10cm_is_valid,
    loinc_is_valid,
    normalise_icd10,
    rxnorm_is_valid,
    snomed_is_valid,
)

# 12345-5 is the worked example in the LOINC Users' Guide §12C.
LOINC_OK = [
    *["17861-6", "2000-8", "2777-1", "14879-1", "1751-7", "2160-0", "14682-9", "98979-8"],
    *["2731-8", "14866-8", "62292-8", "2823-3", "1994-3", "8061-4", "29265-6", "12345-5"],
]
SNOMED_OK = [
    *["88616000", "31848007", "55464009", "89155008", "396230008", "237900002"],
    *["703086002", "61778004", "66924005", "37719003", "40070004", "398909004"],
]


def test_code_system_uris() -> None:
    assert str(CodeSystem.LOINC) == "http://loinc.org"
    assert str(CodeSystem.SNOMED) == "http://snomed.info/sct"
    assert str(CodeSystem.ICD10CM) == "http://hl7.org/fhir/sid/icd-10-cm"
    assert str(CodeSystem.ICD10) == "http://hl7.org/fhir/sid/icd-10"
    assert str(CodeSystem.RXNORM) == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert str(CodeSystem.UCUM) == "http://unitsofmeasure.org"
    assert CodeSystem("http://terminology.hl7.org/CodeSystem/v2-0074") is (
        CodeSystem.DIAGNOSTIC_SERVICE
    )
    assert CodeSystem.CONDITION_VERIFICATION.value.endswith("/condition-ver-status")
    assert CodeSystem.RISK_PROBABILITY.value.endswith("/risk-probability")
    assert len(CodeSystem) == 14 == len({m.value for m in CodeSystem})
    assert all(m.value.startswith(("http://", "urn:calcinosis:")) for m in CodeSystem)
    assert hash(CodeSystem.LOINC) == hash("http://loinc.org")  # StrEnum: usable as a str key


@pytest.mark.parametrize("code", LOINC_OK)
def test_loinc_valid(code: str) -> None:
    assert loinc_is_valid(code)


@pytest.mark.parametrize(
    "code", ["17861-5", "2000-0", "178616", "17861-", "-6", "017861-6", " 2000-8", "LP1234-5", ""]
)
def test_loinc_invalid(code: str) -> None:
    assert not loinc_is_valid(code)


@given(st.integers(min_value=1, max_value=9_999_999))
def test_loinc_exactly_one_check_digit_fits(number: int) -> None:
    assert sum(loinc_is_valid(f"{number}-{d}") for d in range(10)) == 1


@pytest.mark.parametrize("code", SNOMED_OK)
def test_snomed_valid(code: str) -> None:
    assert snomed_is_valid(code)


@pytest.mark.parametrize(
    "code",
    [
        "88616001",  # wrong check digit
        "088616000",  # leading zero
        "12340",  # too short
        "1" * 19,  # too long
        "8861600O",
        "",
        "100022",  # Verhoeff-valid, but partition 02 is a relationship id, not a concept
    ],
)
def test_snomed_invalid(code: str) -> None:
    assert not snomed_is_valid(code)


@pytest.mark.parametrize("code", SNOMED_OK)
def test_snomed_detects_every_single_digit_error(code: str) -> None:
    for i, original in enumerate(code):
        for d in "0123456789":
            if d != original:
                assert not snomed_is_valid(code[:i] + d + code[i + 1 :]), (code, i, d)


@pytest.mark.parametrize(
    "code", ["L70.0", "L94.2", "N18.6", "Z99.2", "T80.818A", "M34.1", "I73.00", "L70", "E83.52"]
)
def test_icd10cm_valid(code: str) -> None:
    assert icd10cm_is_valid(code)


@pytest.mark.parametrize(
    "code", ["L700", "l70.0", "L70.", "L70.00000", "70.0", "LL0.0", "L7", "L70.0 ", ""]
)
def test_icd10cm_invalid(code: str) -> None:
    assert not icd10cm_is_valid(code)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("L700", "L70.0"),
        ("T80818A", "T80.818A"),
        ("L70.0", "L70.0"),
        (" l70.0 ", "L70.0"),
        ("I73 00", "I73.00"),
        ("n186", "N18.6"),
        ("L70", "L70"),
    ],
)
def test_normalise_icd10(raw: str, normal: str) -> None:
    assert normalise_icd10(raw) == normal
    assert icd10cm_is_valid(normalise_icd10(raw))


@given(st.text(alphabet="ABCLTZ0123456789. ", max_size=10))
def test_normalise_icd10_is_idempotent(raw: str) -> None:
    once = normalise_icd10(raw)
    assert normalise_icd10(once) == once


@pytest.mark.parametrize("code", ["6064", "11289", "1", "9999999"])
def test_rxnorm_valid(code: str) -> None:
    assert rxnorm_is_valid(code)


@pytest.mark.parametrize("code", ["", "0", "06064", "12345678", "60a4", "6064 ", "٦٠٦٤"])
def test_rxnorm_invalid(code: str) -> None:
    assert not rxnorm_is_valid(code)
