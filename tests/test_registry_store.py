"""The registry's service API on SQLite and on PostgreSQL: recording bundles, editing with
optimistic concurrency, validation, the audit trail, and logs free of patient data."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.orm import Session

import calcinosis
import pg
from calcinosis.errors import NoPatientError, NotABundleError
from calcinosis.registry import writes
from calcinosis.registry.dberrors import translated
from calcinosis.registry.errors import (
    ConflictError,
    DuplicateError,
    InvalidRecordError,
    NotFoundError,
)
from calcinosis.registry.models import AuditRow, CdsFeedbackRow, LesionRow, PatientRow
from calcinosis.registry.records import Identifier
from calcinosis.registry.service import Registry

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/dev-vignettes/bundles/dev-seed-palanivel-2026.json"
)
DAY = dt.date(2026, 1, 1)
MRN = Identifier("urn:oid:2.16.840.1.113883.19.5", "MRN-4711-SECRET")


@pytest.fixture(params=pg.KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with pg.fresh_database(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def registry(url: str) -> Iterator[Registry]:
    with Registry.open(url) as opened:
        yield opened


def seed(*identifiers: Identifier) -> dict[str, Any]:
    bundle: dict[str, Any] = orjson.loads(SEED.read_bytes())
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    if identifiers:
        patient["identifier"] = [{"system": i.system, "value": i.value} for i in identifiers]
    return bundle


def count(registry: Registry, row_type: type[Any]) -> int:
    with Session(registry.engine) as session:
        return session.query(row_type).count()


def test_recording_the_seed_stores_patient_lesions_and_the_assessment(registry: Registry) -> None:
    bundle = seed(MRN)
    done = registry.record_bundle(bundle, actor="dr.a", as_of=DAY)
    assert done.created
    assert (done.patient.sex, done.patient.birth_year, done.patient.version) == ("female", 1997, 1)
    assert done.patient.identifiers == (MRN,)
    lesion = done.lesion
    assert lesion is not None
    assert (lesion.recorded_on, lesion.site, lesion.count) == (DAY, "cheeks, forehead", None)
    assert lesion.morphology == "multiple persistent comedo-like papules"
    expected = calcinosis.assess_bundle(bundle, as_of=DAY).to_dict()
    stored = done.assessment
    assert stored.contract_json == orjson.dumps(expected).decode()
    assert (stored.as_of, stored.knowledge_version) == (DAY, expected["knowledge_version"])
    canonical = orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)
    assert stored.input_sha256 == hashlib.sha256(canonical).hexdigest()
    assert registry.patient_file(done.patient.id, actor="dr.a").assessments == (stored,)


def test_a_bundle_with_a_known_identifier_adds_to_that_patient(registry: Registry) -> None:
    first = registry.record_bundle(seed(MRN), actor="dr.a", as_of=DAY)
    other = Identifier("urn:oid:1.2.3", "second-system-id")
    again = registry.record_bundle(seed(MRN, other), actor="dr.b", as_of=dt.date(2026, 6, 1))
    assert not again.created
    assert again.patient.id == first.patient.id
    assert set(again.patient.identifiers) == {MRN, other}
    file = registry.patient_file(first.patient.id, actor="dr.a")
    assert [a.as_of for a in file.assessments] == [DAY, dt.date(2026, 6, 1)]
    assert count(registry, PatientRow) == 1


def test_identifiers_of_two_patients_in_one_bundle_are_refused(registry: Registry) -> None:
    other = Identifier("urn:oid:1.2.3", "someone-else")
    registry.register_patient(sex="male", identifiers=(other,), actor="dr.a")
    registry.record_bundle(seed(MRN), actor="dr.a", as_of=DAY)
    with pytest.raises(DuplicateError, match="different registry patients"):
        registry.record_bundle(seed(MRN, other), actor="dr.a", as_of=DAY)


def test_a_bad_bundle_is_refused_with_its_contract_code_and_nothing_stored(
    registry: Registry,
) -> None:
    with pytest.raises(NotABundleError):
        registry.record_bundle({"resourceType": "Patient"}, actor="dr.a", as_of=DAY)
    with pytest.raises(NoPatientError):
        registry.record_bundle({"resourceType": "Bundle", "entry": []}, actor="dr.a", as_of=DAY)
    assert count(registry, PatientRow) == 0


def test_an_edit_of_a_stale_version_raises_conflict_and_keeps_the_newer_value(
    registry: Registry,
) -> None:
    patient = registry.register_patient(sex="female", birth_year=1990, actor="dr.a")
    lesion = registry.add_lesion(patient.id, recorded_on=DAY, count=12, actor="dr.a")
    procedure = registry.record_procedure(
        patient.id, performed_on=DAY, technique="excision", actor="dr.a"
    )
    visit = registry.record_follow_up(patient.id, done_date=DAY, satisfaction=7, actor="dr.a")
    cases: list[tuple[Any, dict[str, int], Any, Any]] = [
        (patient, {"birth_year": 1991}, registry.update_patient, registry.patient),
        (lesion, {"count": 13}, registry.update_lesion, registry.lesion),
        (procedure, {"lesions_treated": 4}, registry.update_procedure, registry.procedure),
        (visit, {"satisfaction": 8}, registry.update_follow_up, registry.follow_up),
    ]
    for record, change, update, reread in cases:
        newer = update(dataclasses.replace(record, **change), actor="dr.b")
        assert newer.version == record.version + 1
        stale = dataclasses.replace(record, **{k: v + 1 for k, v in change.items()})
        with pytest.raises(ConflictError) as refused:
            update(stale, actor="dr.c")
        assert refused.value.current_version == newer.version
        assert refused.value.code == "conflict"
        assert reread(record.id, actor="dr.a") == newer


def test_a_write_racing_a_commit_is_refused_by_the_version_in_its_update(
    registry: Registry, url: str
) -> None:
    patient = registry.register_patient(sex="female", actor="dr.a")
    lesion = registry.add_lesion(patient.id, recorded_on=DAY, count=3, actor="dr.a")
    with (
        Registry.open(url) as other,
        pytest.raises(ConflictError),
        translated("test"),
        Session(registry.engine) as session,
    ):
        row = session.get(LesionRow, lesion.id)
        assert row is not None and row.version == 1
        other.update_lesion(dataclasses.replace(lesion, count=4), actor="dr.b")
        row.count, row.version = 5, 2  # what writes.edit does, on a copy read too early
        session.flush()
    assert registry.lesion(lesion.id, actor="dr.a").count == 4


def test_an_edit_that_changes_nothing_keeps_the_version(registry: Registry) -> None:
    patient = registry.register_patient(sex="other", actor="dr.a")
    lesion = registry.add_lesion(patient.id, recorded_on=DAY, site="chin", actor="dr.a")
    assert registry.update_lesion(lesion, actor="dr.a") == lesion


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"count": -1}, "count must be a whole number from 0"),
        ({"size_mm_low": 3.0, "size_mm_high": 2.0}, "size_mm_low must not exceed size_mm_high"),
        ({"size_mm_low": float("nan")}, "size_mm_low must be a finite number"),
        ({"site": "cheek\x00"}, "site holds control characters"),
        ({"morphology": "x" * 4001}, "morphology is longer than 4000 characters"),
    ],
)
def test_invalid_lesion_values_are_refused_naming_the_field(
    registry: Registry, change: dict[str, Any], message: str
) -> None:
    patient = registry.register_patient(sex="female", actor="dr.a")
    lesion = registry.add_lesion(patient.id, recorded_on=DAY, actor="dr.a")
    with pytest.raises(InvalidRecordError, match=message):
        registry.update_lesion(dataclasses.replace(lesion, **change), actor="dr.a")
    assert registry.lesion(lesion.id, actor="dr.a") == lesion


def test_invalid_sessions_visits_and_patients_are_refused(registry: Registry) -> None:
    patient = registry.register_patient(sex="female", actor="dr.a")
    with pytest.raises(InvalidRecordError, match="technique must be one of rf-assisted"):
        registry.record_procedure(patient.id, performed_on=DAY, technique="magic", actor="dr.a")
    with pytest.raises(InvalidRecordError, match="satisfaction must be a whole number from 0 to"):
        registry.record_follow_up(patient.id, done_date=DAY, satisfaction=11, actor="dr.a")
    with pytest.raises(InvalidRecordError, match="sex must be one of"):
        registry.register_patient(sex="f", actor="dr.a")
    with pytest.raises(InvalidRecordError, match="birth_year must be a year"):
        registry.register_patient(sex="male", birth_year=1200, actor="dr.a")
    with pytest.raises(InvalidRecordError, match="actor must be 1-200 characters"):
        registry.register_patient(sex="male", actor=" ")
    assert count(registry, PatientRow) == 1


def test_unknown_and_malformed_ids_are_refused(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="no patient 6f1c0e47-"):
        registry.patient("6f1c0e47-4b58-4c55-9f0f-3d0e5d2a8c11", actor="dr.a")
    with pytest.raises(InvalidRecordError, match="lesion id must be a UUID"):
        registry.lesion("1 OR 1=1", actor="dr.a")
    with pytest.raises(NotFoundError):
        registry.add_lesion("6f1c0e47-4b58-4c55-9f0f-3d0e5d2a8c11", recorded_on=DAY, actor="x")


def test_a_patient_cannot_be_registered_twice_by_identifier(registry: Registry) -> None:
    registry.register_patient(sex="female", identifiers=(MRN,), actor="dr.a")
    with pytest.raises(DuplicateError):
        registry.register_patient(sex="female", identifiers=(MRN,), actor="dr.a")
    found = registry.find_patient(MRN, actor="dr.a")
    assert found is not None and found.identifiers == (MRN,)
    assert registry.find_patient(Identifier("urn:x", "none"), actor="dr.a") is None


def test_patients_come_in_pages(registry: Registry) -> None:
    made = [registry.register_patient(sex="unknown", actor="dr.a").id for _ in range(5)]
    pages = [registry.patients(actor="dr.a", offset=o, limit=2) for o in (0, 2, 4)]
    assert [[p.id for p in page] for page in pages] == [made[0:2], made[2:4], made[4:5]]
    with pytest.raises(InvalidRecordError, match="limit 1-500"):
        registry.patients(actor="dr.a", limit=0)


def test_every_call_is_audited_with_who_what_and_which_record(registry: Registry) -> None:
    done = registry.record_bundle(seed(MRN), actor="dr.a", as_of=DAY)
    registry.patient(done.patient.id, actor="nurse.b")
    registry.export_patient(done.patient.id, actor="dr.c")
    with Session(registry.engine) as session:
        rows = session.query(AuditRow).order_by(AuditRow.id).all()
    trail = [(r.actor, r.action, r.entity_type, r.entity_id) for r in rows]
    assert done.lesion is not None
    assert trail == [
        ("dr.a", "create", "patient", done.patient.id),
        ("dr.a", "add-identifier", "patient", done.patient.id),
        ("dr.a", "create", "lesion", done.lesion.id),
        ("dr.a", "create", "assessment", done.assessment.id),
        ("nurse.b", "read", "patient", done.patient.id),
        ("dr.c", "export", "patient", done.patient.id),
    ]
    assert all(r.at.tzinfo is dt.UTC for r in rows)


def test_logs_and_errors_carry_no_identifiers_or_clinical_values(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # every statement, too
    with Registry.open(url) as registry:
        done = registry.record_bundle(seed(MRN), actor="dr.a", as_of=DAY)
        pid = done.patient.id
        registry.record_procedure(
            pid,
            performed_on=DAY,
            technique="rf-assisted-extraction",
            lesions_treated=987654,
            complications="hyperpigmentation",
            actor="dr.a",
        )
        registry.schedule(registry.plan(pid, actor="dr.a"), actor="dr.a")
        registry.due(dt.date(2027, 3, 1), actor="dr.a")
        registry.export_patient(pid, actor="dr.a")
        messages = [registry_error(lambda: registry.register_patient(
            sex="female", identifiers=(MRN,), actor="dr.a"))]  # fmt: skip
        with registry.engine.connect() as connection:
            messages.append(
                registry_error(
                    lambda: _raw_duplicate_identifier(connection, pid),
                )
            )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    # Random record ids and SQLAlchemy's timings could hold "1997" by chance; drop them first.
    logged = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|\d+\.\d+s", "#", logged)
    assert "registry create patient" in logged
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged
    for secret in (MRN.value, "1997", "comedo", "cheeks", "987654", "hyperpigmentation"):
        assert secret not in logged
        assert all(secret not in m for m in messages)


def registry_error(action: Any) -> str:
    try:
        action()
    except calcinosis.CalcinosisError as exc:
        return exc.message
    raise AssertionError("expected a refusal")


def _raw_duplicate_identifier(connection: Any, patient_id: str) -> None:
    from sqlalchemy import insert

    from calcinosis.registry.models import IdentifierRow

    with translated("test"):
        connection.execute(
            insert(IdentifierRow).values(
                id=writes.new_id(), patient_id=patient_id, system=MRN.system, value=MRN.value
            )
        )


def test_cds_feedback_is_stored_without_patient_data(registry: Registry) -> None:
    at = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    stored = registry.record_cds_feedback(
        service_id="calcinosis-patient-view",
        card_uuid="3b1d0e0a-card",
        outcome="overridden",
        override_reason_code="patient-declined",
        outcome_at=at,
    )
    with Session(registry.engine) as session:
        row = session.get(CdsFeedbackRow, stored)
        assert row is not None
        assert (row.outcome, row.override_reason_code, row.outcome_at) == (
            "overridden",
            "patient-declined",
            at,
        )
    with pytest.raises(InvalidRecordError, match="outcome must be one of accepted, overridden"):
        registry.record_cds_feedback(
            service_id="s", card_uuid="c", outcome="ignored", outcome_at=at
        )


def test_copies_of_the_seed_do_not_merge_without_identifiers(registry: Registry) -> None:
    """No identifier, no match: two recordings of an anonymous bundle stay two patients, because
    merging different people would be worse than a duplicate."""
    bundle = seed()
    first = registry.record_bundle(copy.deepcopy(bundle), actor="dr.a", as_of=DAY)
    second = registry.record_bundle(bundle, actor="dr.a", as_of=DAY)
    assert first.patient.id != second.patient.id and second.created
