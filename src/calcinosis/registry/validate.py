"""Checks on values before they reach the database, so both databases refuse the same things with
the same message (PostgreSQL and SQLite differ on string lengths and NUL characters).

Messages name the field and the rule, never the value: values may be identifiers or clinical.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid

from calcinosis.errors import CalcinosisError
from calcinosis.registry.errors import InvalidRecordError
from calcinosis.registry.models import SEXES, TECHNIQUES
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientRecord,
    ProcedureRecord,
)

IDENTIFIER_MAX = 255
KIND_MAX = 128
TEXT_MAX = 4000
INT_MAX = 2**31 - 1
BIRTH_YEARS = (1850, 2200)
SATISFACTION = (0, 10)
KNOWLEDGE_VERSION_MAX = 32
SHA256 = re.compile(r"[0-9a-f]{64}")


def check_text(value: str, field: str, limit: int = TEXT_MAX) -> str:
    if not isinstance(value, str):
        raise InvalidRecordError(f"{field} must be text")
    if len(value) > limit:
        raise InvalidRecordError(f"{field} is longer than {limit} characters")
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise InvalidRecordError(f"{field} holds control characters")
    return value


def check_identifier(
    identifier: Identifier,
    where: str = "identifier",
    error: type[CalcinosisError] = InvalidRecordError,
) -> Identifier:
    for part in ("system", "value"):
        text = getattr(identifier, part)
        if not isinstance(text, str) or not text.strip():
            raise error(f"{where}.{part} must be non-empty text")
        if len(text) > IDENTIFIER_MAX or any(ord(c) < 32 for c in text):
            raise error(f"{where}.{part} must be at most {IDENTIFIER_MAX} printable characters")
    return identifier


def check_count(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise InvalidRecordError(f"{field} must be a whole number from 0")
    return value


def check_size(value: float | None, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecordError(f"{field} must be a number of millimetres")
    if not math.isfinite(value) or value < 0:
        raise InvalidRecordError(f"{field} must be a finite number of millimetres from 0")
    return float(value)


def check_size_range(low: float | None, high: float | None) -> None:
    check_size(low, "size_mm_low")
    check_size(high, "size_mm_high")
    if low is not None and high is not None and low > high:
        raise InvalidRecordError("size_mm_low must not exceed size_mm_high")


def check_satisfaction(value: int | None) -> int | None:
    if value is None:
        return None
    low, high = SATISFACTION
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecordError(f"satisfaction must be a whole number from {low} to {high}")
    return value


def check_choice(value: str, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRecordError(f"{field} must be one of {', '.join(allowed)}")
    return value


def check_technique(value: str) -> str:
    return check_choice(value, "technique", TECHNIQUES)


def check_sex(value: str) -> str:
    return check_choice(value, "sex", SEXES)


def check_birth_year(value: int | None) -> int | None:
    if value is None:
        return None
    low, high = BIRTH_YEARS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecordError(f"birth_year must be a year from {low} to {high}")
    return value


def check_date(value: dt.date | None, field: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise InvalidRecordError(f"{field} must be a date")
    return value


def check_id(value: str, what: str) -> str:
    """A record id: a UUID in its canonical lower-case form."""
    try:
        if isinstance(value, str) and str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise InvalidRecordError(
        f"{what} id must be a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )


def check_lesion(record: LesionRecord) -> None:
    check_date(record.recorded_on, "recorded_on")
    check_text(record.site, "site")
    check_count(record.count, "count")
    check_size_range(record.size_mm_low, record.size_mm_high)
    check_text(record.morphology, "morphology")


def check_procedure(record: ProcedureRecord) -> None:
    check_date(record.performed_on, "performed_on")
    check_technique(record.technique)
    check_count(record.lesions_treated, "lesions_treated")
    check_text(record.complications, "complications")


def check_follow_up(record: FollowUpRecord) -> None:
    check_text(record.kind, "kind", KIND_MAX)
    for field in ("planned_date", "due_by", "done_date"):
        check_date(getattr(record, field), field)
    if record.planned_date is None and record.done_date is None:
        raise InvalidRecordError("a follow-up needs a planned date, a done date or both")
    if record.due_by is not None and (
        record.planned_date is None or record.due_by < record.planned_date
    ):
        raise InvalidRecordError("due_by needs a planned_date on or before it")
    if record.recurrence is not None and not isinstance(record.recurrence, bool):
        raise InvalidRecordError("recurrence must be true, false or unknown")
    check_count(record.lesion_count, "lesion_count")
    check_satisfaction(record.satisfaction)


def check_patient(record: PatientRecord) -> None:
    check_sex(record.sex)
    check_birth_year(record.birth_year)
    for index, identifier in enumerate(record.identifiers):
        check_identifier(identifier, f"identifiers[{index}]")


def check_assessment(record: AssessmentRecord) -> None:
    check_date(record.as_of, "as_of")
    check_text(record.knowledge_version, "knowledge_version", KNOWLEDGE_VERSION_MAX)
    if not SHA256.fullmatch(record.input_sha256):
        raise InvalidRecordError("input_sha256 must be 64 lower-case hexadecimal digits")
    if record.created_at.tzinfo is None:
        raise InvalidRecordError("created_at must carry a time zone")
