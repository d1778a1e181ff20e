"""A Bundle written by fhir_export.py -> the PatientFile it came from, field for field.

Strict: anything we wrote must be there and well formed, or the import is refused with the
place named (InvalidResourceError). Resources we do not store (the derived Condition, anything
another system added) are ignored.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from calcinosis.core.codes import CodeSystem
from calcinosis.errors import InvalidResourceError, NoPatientError
from calcinosis.registry.fhir_export import FOLLOW_UP_REVIEW, LESIONS
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientFile,
    PatientRecord,
    ProcedureRecord,
)
from calcinosis.registry.systems import EXPORT_TAG_CODE, Extension, RegistrySystem

Json = Mapping[str, Any]


def is_registry_export(bundle: Json) -> bool:
    tags = (bundle.get("meta") or {}).get("tag") if isinstance(bundle.get("meta"), dict) else []
    return any(
        isinstance(t, dict)
        and t.get("system") == RegistrySystem.EXPORT_TAG.value
        and t.get("code") == EXPORT_TAG_CODE
        for t in tags or []
    )


def read_patient_file(bundle: Json) -> PatientFile:
    resources = _resources(bundle)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise NoPatientError("a registry export holds exactly one Patient")
    patient = _patient(patients[0])
    subject = f"urn:uuid:{patient.id}"
    lesions, assessments, procedures = [], [], []
    appointments: dict[str, Json] = {}
    outcomes: dict[str, Json] = {}
    for res in resources:
        kind = res["resourceType"]
        where = f"{kind}/{res.get('id')}"
        code = res.get("code")
        if kind == "Appointment":
            actors = [p.get("actor") for p in _list(res, "participant", where)]
            _check_subject(actors[0] if len(actors) == 1 else None, subject, f"{where}.participant")
            appointments[_follow_up_id(res, where)] = res
            continue
        if kind not in ("Observation", "Procedure", "RiskAssessment"):
            continue  # not ours to store: a derived Condition, or another system's addition
        if kind == "Observation" and not (
            _has_code(code, LESIONS) or _has_code(code, FOLLOW_UP_REVIEW)
        ):
            continue
        _check_subject(res.get("subject"), subject, f"{where}.subject")
        if kind == "RiskAssessment":
            assessments.append(_assessment(res, patient.id, where))
        elif kind == "Procedure":
            procedures.append(_procedure(res, patient.id, where))
        elif _has_code(code, LESIONS):
            lesions.append(_lesion(res, patient.id, where))
        else:
            outcomes[_follow_up_id(res, where)] = res
    follow_ups = [
        _follow_up(key, appointments.get(key), outcomes.get(key), patient.id)
        for key in sorted(set(appointments) | set(outcomes))
    ]
    return PatientFile(
        patient=patient,
        lesions=tuple(sorted(lesions, key=lambda r: (r.recorded_on, r.id))),
        assessments=tuple(sorted(assessments, key=lambda r: (r.as_of, r.created_at, r.id))),
        procedures=tuple(sorted(procedures, key=lambda r: (r.performed_on, r.id))),
        follow_ups=tuple(follow_ups),
    )


# ------------------------------------------------------------------------ resources
def _resources(bundle: Json) -> list[Json]:
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        raise InvalidResourceError("Bundle.entry must be a list")
    out: list[Json] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise InvalidResourceError(f"Bundle.entry[{index}] holds no resource")
        out.append(resource)
    return out


def _patient(res: Json) -> PatientRecord:
    where = f"Patient/{res.get('id')}"
    birth = res.get("birthDate")
    if birth is not None and (not isinstance(birth, str) or not birth[:4].isdigit()):
        raise InvalidResourceError(f"{where}.birthDate must be a year")
    identifiers = []
    for index, item in enumerate(_list(res, "identifier", where)):
        place = f"{where}.identifier[{index}]"
        identifiers.append(Identifier(_text(item, "system", place), _text(item, "value", place)))
    return PatientRecord(
        id=_text(res, "id", where),
        sex=_text(res, "gender", where),
        birth_year=int(birth[:4]) if birth else None,
        created_at=_instant(_extension(res, Extension.CREATED_AT, "valueDateTime", where), where),
        version=_version(res, where),
        identifiers=tuple(sorted(identifiers, key=lambda i: (i.system, i.value))),
    )


def _lesion(res: Json, patient_id: str, where: str) -> LesionRecord:
    parts = _components(res, where)
    size = parts.get("lesion-size", {}).get("valueRange", {})
    body_site = res.get("bodySite")
    return LesionRecord(
        id=_text(res, "id", where),
        patient_id=patient_id,
        recorded_on=_date(res.get("effectiveDateTime"), f"{where}.effectiveDateTime"),
        site=_text(body_site, "text", f"{where}.bodySite") if body_site else "",
        count=_int_or_none(parts.get("lesion-count"), "valueInteger", where),
        size_mm_low=_millimetres(size.get("low"), f"{where}.size.low"),
        size_mm_high=_millimetres(size.get("high"), f"{where}.size.high"),
        morphology=str(parts.get("lesion-morphology", {}).get("valueString", "")),
        version=_version(res, where),
    )


def _assessment(res: Json, patient_id: str, where: str) -> AssessmentRecord:
    attachment = _extension(res, Extension.ASSESSMENT_JSON, "valueAttachment", where)
    try:
        text = base64.b64decode(_text(attachment, "data", where), validate=True).decode()
        if not isinstance(orjson.loads(text), dict):
            raise ValueError("not an object")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        message = f"{where}: the assessment JSON is not a base64 JSON object"
        raise InvalidResourceError(message) from None
    hashes = [
        i.get("value")
        for i in _list(res, "identifier", where)
        if i.get("system") == RegistrySystem.INPUT_SHA256.value
    ]
    if len(hashes) != 1 or not isinstance(hashes[0], str):
        raise InvalidResourceError(f"{where}.identifier: one input SHA-256 is needed")
    return AssessmentRecord(
        id=_text(res, "id", where),
        patient_id=patient_id,
        as_of=_date(res.get("occurrenceDateTime"), f"{where}.occurrenceDateTime"),
        knowledge_version=_extension(res, Extension.KNOWLEDGE_VERSION, "valueString", where),
        input_sha256=hashes[0],
        contract_json=text,
        created_at=_instant(_extension(res, Extension.CREATED_AT, "valueDateTime", where), where),
    )


def _procedure(res: Json, patient_id: str, where: str) -> ProcedureRecord:
    techniques = [
        c.get("code")
        for c in _list(res.get("code") or {}, "coding", where)
        if c.get("system") == RegistrySystem.TECHNIQUE.value
    ]
    if len(techniques) != 1 or not isinstance(techniques[0], str):
        raise InvalidResourceError(f"{where}.code: one technique coding is needed")
    complications = _list(res, "complication", where)
    treated = _extension(res, Extension.LESIONS_TREATED, "valueInteger", where, required=False)
    return ProcedureRecord(
        id=_text(res, "id", where),
        patient_id=patient_id,
        performed_on=_date(res.get("performedDateTime"), f"{where}.performedDateTime"),
        technique=techniques[0],
        lesions_treated=_int_or_none({"v": treated}, "v", where),
        complications=_text(complications[0], "text", where) if complications else "",
        version=_version(res, where),
    )


def _follow_up(
    key: str, appointment: Json | None, outcome: Json | None, patient_id: str
) -> FollowUpRecord:
    where = f"follow-up {key}"
    planned = due_by = done = None
    kind = ""
    version = 0
    if appointment is not None:
        period = _list(appointment, "requestedPeriod", where)
        if len(period) != 1:
            raise InvalidResourceError(f"{where}: one Appointment.requestedPeriod is needed")
        planned = _date(period[0].get("start"), f"{where}.requestedPeriod.start")
        if "end" in period[0]:
            due_by = _date(period[0].get("end"), f"{where}.requestedPeriod.end")
        rules = [
            c.get("code")
            for service in _list(appointment, "serviceType", where)
            for c in _list(service, "coding", where)
            if c.get("system") == RegistrySystem.KNOWLEDGE_RULE.value
        ]
        kind = str(rules[0]) if rules else ""
        version = _version(appointment, where)
    parts: dict[str, Json] = {}
    if outcome is not None:
        done = _date(outcome.get("effectiveDateTime"), f"{where}.effectiveDateTime")
        parts = _components(outcome, where)
        if appointment is None:
            kind = _extension(outcome, Extension.FOLLOW_UP_KIND, "valueString", where, False) or ""
        version = _version(outcome, where)
    recurrence = parts.get("recurrence", {}).get("valueBoolean")
    if recurrence is not None and not isinstance(recurrence, bool):
        raise InvalidResourceError(f"{where}: recurrence must be a boolean")
    return FollowUpRecord(
        id=key,
        patient_id=patient_id,
        kind=kind,
        planned_date=planned,
        due_by=due_by,
        done_date=done,
        recurrence=recurrence,
        lesion_count=_int_or_none(parts.get("lesion-count"), "valueInteger", where),
        satisfaction=_int_or_none(parts.get("satisfaction"), "valueInteger", where),
        version=version,
    )


# ------------------------------------------------------------------------ elements
def _list(res: Any, key: str, where: str) -> list[Json]:
    value = res.get(key, []) if isinstance(res, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidResourceError(f"{where}.{key} must be a list of objects")
    return value


def _text(res: Any, key: str, where: str) -> str:
    value = res.get(key) if isinstance(res, dict) else None
    if not isinstance(value, str):
        raise InvalidResourceError(f"{where}.{key} must be text")
    return value


def _has_code(concept: Any, code: str) -> bool:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return any(
        isinstance(c, dict)
        and c.get("system") == RegistrySystem.CODES.value
        and c.get("code") == code
        for c in codings or []
    )


def _components(res: Json, where: str) -> dict[str, Json]:
    out = {}
    for item in _list(res, "component", where):
        codings = _list(item.get("code") or {}, "coding", where)
        for c in codings:
            if c.get("system") == RegistrySystem.CODES.value and isinstance(c.get("code"), str):
                out[c["code"]] = item
    return out


def _extension(res: Json, url: str, key: str, where: str, required: bool = True) -> Any:
    for item in _list(res, "extension", where):
        if item.get("url") == url:
            return item.get(key)
    if required:
        raise InvalidResourceError(f"{where}: extension {url} is missing")
    return None


def _version(res: Json, where: str) -> int:
    meta = res.get("meta")
    text = meta.get("versionId") if isinstance(meta, dict) else None
    if not isinstance(text, str) or not text.isdigit() or int(text) < 1:
        raise InvalidResourceError(f"{where}.meta.versionId must be a positive number")
    return int(text)


def _date(value: Any, where: str) -> dt.date:
    try:
        if isinstance(value, str) and len(value) == 10:
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidResourceError(f"{where} must be a date (YYYY-MM-DD)")


def _instant(value: Any, where: str) -> dt.datetime:
    try:
        if isinstance(value, str):
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment.astimezone(dt.UTC)
    except ValueError:
        pass
    raise InvalidResourceError(f"{where}: created-at must be a date-time with a time zone")


def _int_or_none(item: Json | None, key: str, where: str) -> int | None:
    value = item.get(key) if item else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidResourceError(f"{where}.{key} must be a whole number")
    return value


def _millimetres(quantity: Any, where: str) -> float | None:
    if quantity is None:
        return None
    if not isinstance(quantity, dict) or quantity.get("code") != "mm":
        raise InvalidResourceError(f"{where} must be a quantity in mm")
    if quantity.get("system") != CodeSystem.UCUM.value:
        raise InvalidResourceError(f"{where} must use UCUM units")
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidResourceError(f"{where}.value must be a number")
    return float(value)


def _follow_up_id(res: Json, where: str) -> str:
    values = [
        i.get("value")
        for i in _list(res, "identifier", where)
        if i.get("system") == RegistrySystem.FOLLOW_UP.value
    ]
    if len(values) != 1 or not isinstance(values[0], str):
        raise InvalidResourceError(f"{where}.identifier: one follow-up identifier is needed")
    return values[0]


def _check_subject(subject: Any, expected: str, where: str) -> None:
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if reference != expected:
        raise InvalidResourceError(f"{where} must be the Bundle's Patient")
