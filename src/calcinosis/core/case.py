"""The case: one patient's facts, typed and unit-normalised, ready for the rules.

The FHIR shell builds it; the rules read only this. Every fact keeps the reference of the
resource it came from, so each statement can name its basis.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from calcinosis.core.assessment import Finding

# Fact, LabResult and Medication are NamedTuples rather than frozen dataclasses: a record
# makes dozens of them, and a tuple is built in C where a frozen dataclass sets each field
# through object.__setattr__. They are as immutable; read them by field name only.


class Fact(NamedTuple):
    """A concept seen in the record: coded, read from a structured field, or read from text.

    `present` is False when the record says it is absent ("no pain", "never had acne").
    """

    concept: str
    present: bool
    finding: Finding
    uncertain: bool = False
    historical: bool = False
    origin: str = "text"  # code | structured | text
    onset: dt.date | None = None
    onset_text: str = ""


class LabResult(NamedTuple):
    """One laboratory result, its value converted to the analyte's canonical unit."""

    analyte: str
    finding: Finding
    when: dt.date | None
    value: float | None = None  # canonical unit; None when absent or not convertible
    unit: str | None = None  # canonical unit when value is set
    flag: str | None = None  # normal | high | low | abnormal | positive | negative
    low: float | None = None  # report's reference range, canonical unit
    high: float | None = None
    unit_problem: str | None = None  # why a sent value could not be used
    text: str = ""


class Medication(NamedTuple):
    concepts: frozenset[str]
    finding: Finding
    status: str
    response: str  # responded | no response | partial | unknown | not-applicable
    start: dt.date | None = None
    end: dt.date | None = None
    text: str = ""
    is_order: bool = False
    note: str = ""
    duration_days: float | None = None  # course length when only a duration was written


@dataclass(frozen=True, slots=True)
class Lesions:
    """What the examination says about the lesions, where it says it."""

    consistency: tuple[str, ...] = ()  # hard | firm | soft | indurated
    count: int | None = None
    count_text: str = ""
    size_mm_low: float | None = None
    size_mm_high: float | None = None
    duration_days: float | None = None
    duration_text: str = ""
    sites: tuple[str, ...] = ()  # site concept ids
    site_text: str = ""
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    patient_id: str
    patient_reference: str
    sex: str
    birth_date: dt.date | None = None
    age_range_years: tuple[float, float] | None = None
    facts: tuple[Fact, ...] = ()
    labs: tuple[LabResult, ...] = ()
    medications: tuple[Medication, ...] = ()
    lesions: Lesions = field(default_factory=Lesions)
    # (rule id, what happened, the input resources it rests on)
    ingest_warnings: tuple[tuple[str, str, tuple[Finding, ...]], ...] = ()
