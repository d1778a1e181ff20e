"""Code-system URIs (one spelling each) and syntactic validators for the codes we read."""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "CodeSystem",
    "icd10cm_is_valid",
    "loinc_is_valid",
    "normalise_icd10",
    "rxnorm_is_valid",
    "snomed_is_valid",
]


class CodeSystem(StrEnum):
    """The canonical system URIs; compare FHIR `Coding.system` against these only."""

    ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
    ICD10 = "http://hl7.org/fhir/sid/icd-10"
    SNOMED = "http://snomed.info/sct"
    LOINC = "http://loinc.org"
    RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
    UCUM = "http://unitsofmeasure.org"
    OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
    INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
    CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
    DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
    RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
    CALCINOSIS_ERROR = "urn:calcinosis:error-code"
    """Our contract's error codes (invalid-json, too-large, ...) in OperationOutcome details."""


# Canonical URLs of FHIR's own types (a ViewDefinition may name a column type this way).
FHIR_STRUCTURE_DEFINITION = "http://hl7.org/fhir/StructureDefinition/"

_LOINC = re.compile(r"([1-9][0-9]{0,6})-([0-9])")
_SNOMED = re.compile(r"[1-9][0-9]{5,17}")
_ICD10CM = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
_RXNORM = re.compile(r"[1-9][0-9]{0,6}")

# Verhoeff tables: multiplication in the dihedral group D5 and the position permutation.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def _luhn_check_digit(digits: str) -> int:
    """LOINC Users' Guide §12C mod-10: double odd positions from the right, sum digit sums."""
    total = 0
    for position, char in enumerate(reversed(digits), start=1):
        n = int(char) * (2 if position % 2 else 1)
        total += n // 10 + n % 10
    return (10 - total % 10) % 10


def _verhoeff_ok(digits: str) -> bool:
    """True when the last digit is a valid Verhoeff check digit for the rest."""
    c = 0
    for i, char in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(char)]]
    return c == 0


def loinc_is_valid(code: str) -> bool:
    """LOINC number 'N…N-C' whose mod-10 check digit matches (catches mistyped codes)."""
    m = _LOINC.fullmatch(code)
    return m is not None and _luhn_check_digit(m.group(1)) == int(m.group(2))


def snomed_is_valid(code: str) -> bool:
    """SNOMED CT concept id: 6–18 digits, concept partition (00 or 10), Verhoeff-valid."""
    if _SNOMED.fullmatch(code) is None:
        return False
    partition = code[-3:-1]
    if partition == "10":  # extension: 7-digit namespace + item id + partition + check
        if len(code) < 11:
            return False
    elif partition != "00":
        return False
    return _verhoeff_ok(code)


def icd10cm_is_valid(code: str) -> bool:
    """ICD-10-CM code in the dotted form FHIR uses (L70.0, T80.818A); undotted is rejected."""
    return _ICD10CM.fullmatch(code) is not None


def normalise_icd10(code: str) -> str:
    """Upper-case, strip spaces and insert the dot after the category ('L700' -> 'L70.0')."""
    compact = "".join(code.split()).upper()
    if "." not in compact and len(compact) > 3:
        return f"{compact[:3]}.{compact[3:]}"
    return compact


def rxnorm_is_valid(code: str) -> bool:
    """RxNorm RXCUI: 1–7 digits without a leading zero."""
    return _RXNORM.fullmatch(code) is not None
