"""A patient exported as FHIR and imported into an empty database comes back field for field, on
SQLite and PostgreSQL; the export is valid FHIR; bad exports are refused with the place named."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

import pg
from calcinosis.errors import InvalidResourceError, NoPatientError
from calcinosis.registry import models
from calcinosis.registry.errors import DuplicateError, InvalidRecordError
from calcinosis.registry.records import (
    AssessmentRecord,
    FollowUpRecord,
    Identifier,
    LesionRecord,
    PatientFile,
    PatientRecord,
    ProcedureRecord,
)
from calcinosis.registry.service import Registry

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/dev-vignettes/bundles/dev-seed-palanivel-2026.json"
)
D = dt.date.fromisoformat
IDENTIFIERS = (
    Identifier("urn:oid:2.16.840.1.113883.19.5", "MRN-0001"),
    Identifier("https://hospital.example/ids", "Ünïcødé-42"),
)


@pytest.fixture(params=pg.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def source(kind: str, tmp_path: Path) -> Iterator[Registry]:
    with pg.fresh_database(kind, tmp_path) as url, Registry.open(url) as registry:
        yield registry


@pytest.fixture
def target(kind: str, tmp_path: Path) -> Iterator[Registry]:
    with pg.fresh_database(kind, tmp_path) as url, Registry.open(url) as registry:
        yield registry


def rich_patient(registry: Registry) -> str:
    """A patient using every field we store, with values and with blanks, edited records too."""
    bundle = orjson.loads(SEED.read_bytes())
    bundle["entry"][0]["resource"]["identifier"] = [
        {"system": i.system, "value": i.value} for i in IDENTIFIERS
    ]
    pid = registry.record_bundle(bundle, actor="dr.a", as_of=D("2026-01-01")).patient.id
    registry.assess(pid, bundle, actor="dr.a", as_of=D("2026-06-01"))
    full = registry.add_lesion(
        pid,
        recorded_on=D("2026-01-02"),
        site="left cheek — near the nasolabial fold",
        count=37,
        size_mm_low=0.5,
        size_mm_high=2.25,
        morphology="firm white papules\nsome with a central pore",
        actor="dr.a",
    )
    registry.update_lesion(dataclasses.replace(full, count=38), actor="dr.b")
    registry.add_lesion(pid, recorded_on=D("2026-01-02"), size_mm_high=1.0, actor="dr.a")
    first = registry.record_procedure(
        pid,
        performed_on=D("2026-01-05"),
        technique="rf-assisted-extraction",
        lesions_treated=20,
        actor="dr.a",
    )
    registry.update_procedure(
        dataclasses.replace(first, complications="transient erythema"), actor="dr.a"
    )
    registry.record_procedure(pid, performed_on=D("2026-02-16"), technique="laser", actor="dr.a")
    registry.schedule(registry.plan(pid, actor="dr.a"), actor="dr.a")
    reviews = {r.kind: r for r in registry.patient_file(pid, actor="dr.a").follow_ups}
    registry.record_follow_up(
        pid,
        done_date=D("2026-05-18"),
        recurrence=False,
        lesion_count=0,
        satisfaction=10,
        review=reviews["follow-up.recurrence-3-months"],
        actor="dr.a",
    )
    visit = registry.record_follow_up(pid, done_date=D("2026-03-01"), actor="dr.a")
    registry.update_follow_up(dataclasses.replace(visit, recurrence=True), actor="dr.a")
    return pid


def bare_patient(registry: Registry) -> str:
    """A patient with every optional field left blank."""
    pid = registry.register_patient(sex="unknown", actor="dr.a").id
    registry.add_lesion(pid, recorded_on=D("2026-01-02"), actor="dr.a")
    registry.record_procedure(pid, performed_on=D("2026-01-03"), technique="other", actor="x")
    registry.record_follow_up(pid, done_date=D("2026-04-01"), actor="dr.a")
    return pid


@pytest.mark.parametrize("make", [rich_patient, bare_patient])
def test_export_then_import_into_an_empty_database_loses_nothing(
    source: Registry, target: Registry, make: Any
) -> None:
    pid = make(source)
    before = source.patient_file(pid, actor="dr.a")
    bundle = source.export_patient(pid, actor="dr.a")
    imported = target.import_bundle(orjson.loads(orjson.dumps(bundle)), actor="dr.z")
    assert (imported.patient_id, imported.how) == (pid, "restored")
    after = target.patient_file(pid, actor="dr.z")
    check_same_file(before, after)
    again = target.export_patient(pid, actor="dr.z")
    assert without_stamp(again) == without_stamp(bundle)


def check_same_file(before: PatientFile, after: PatientFile) -> None:
    """Field by field, so a failure names the record and the field that changed."""
    assert dataclasses.asdict(after.patient) == dataclasses.asdict(before.patient)
    for part in ("lesions", "assessments", "procedures", "follow_ups"):
        old, new = getattr(before, part), getattr(after, part)
        assert [r.id for r in new] == [r.id for r in old], part
        for a, b in zip(old, new, strict=True):
            for field in dataclasses.fields(a):
                assert getattr(b, field.name) == getattr(a, field.name), (part, a.id, field.name)
    assert after == before


def without_stamp(bundle: dict[str, Any]) -> dict[str, Any]:
    copied = dict(bundle)
    copied.pop("id")
    copied.pop("timestamp")
    return copied


def test_the_round_trip_covers_every_value_of_the_two_patients(source: Registry) -> None:
    """Guard the guard: between them, the two patients hold a non-blank and (where allowed) a
    blank value of every field, so the round trip above really checks them all."""
    files = [
        source.patient_file(make(source), actor="dr.a") for make in (rich_patient, bare_patient)
    ]
    groups: dict[type[Any], list[Any]] = {
        PatientRecord: [f.patient for f in files],
        LesionRecord: [r for f in files for r in f.lesions],
        AssessmentRecord: [r for f in files for r in f.assessments],
        ProcedureRecord: [r for f in files for r in f.procedures],
        FollowUpRecord: [r for f in files for r in f.follow_ups],
    }
    for record_type, records in groups.items():
        for field in dataclasses.fields(record_type):
            values = [getattr(r, field.name) for r in records]
            assert any(v not in (None, "", ()) for v in values), (record_type.__name__, field.name)
            if "None" in str(field.type) or field.name in BLANKABLE:
                assert any(v in (None, "", ()) for v in values), (record_type.__name__, field.name)
    edited = [r for f in files for r in (*f.lesions, *f.procedures, *f.follow_ups)]
    assert any(r.version > 1 for r in edited)


BLANKABLE = {"site", "morphology", "complications", "kind", "identifiers"}


def test_records_carry_every_column_of_the_patient_tables() -> None:
    """A new column must reach the records (and so the export), or this fails."""
    pairs = [
        (models.PatientRow, PatientRecord, {"identifiers"}),
        (models.LesionRow, LesionRecord, set()),
        (models.AssessmentRow, AssessmentRecord, set()),
        (models.ProcedureRow, ProcedureRecord, set()),
        (models.FollowUpRow, FollowUpRecord, set()),
    ]
    for row, record, extra in pairs:
        columns = {c.name for c in row.__table__.columns}
        assert columns | extra == {f.name for f in dataclasses.fields(record)}, row.__name__
    identifier_columns = {c.name for c in models.IdentifierRow.__table__.columns}
    assert identifier_columns - {"id", "patient_id"} == {
        f.name for f in dataclasses.fields(Identifier)
    }


def test_the_export_is_valid_fhir(source: Registry) -> None:
    bundle = source.export_patient(rich_patient(source), actor="dr.a")
    # fhir.resources' R4B models stand in for an R4 validator (these resources are the same).
    Bundle.model_validate(bundle)
    kinds = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
        kinds.append(resource["resourceType"])
    assert sorted(set(kinds)) == [
        "Appointment",
        "Condition",
        "Observation",
        "Patient",
        "Procedure",
        "RiskAssessment",
    ]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == len(bundle["entry"])


def test_importing_a_patient_twice_is_refused_and_leaves_the_first(
    source: Registry, target: Registry
) -> None:
    bundle = source.export_patient(rich_patient(source), actor="dr.a")
    target.import_bundle(bundle, actor="dr.z")
    with pytest.raises(DuplicateError, match="is in the registry already"):
        target.import_bundle(bundle, actor="dr.z")
    assert len(target.patients(actor="dr.z")) == 1


def test_importing_a_patient_whose_identifier_is_taken_is_refused(
    source: Registry, target: Registry
) -> None:
    bundle = source.export_patient(rich_patient(source), actor="dr.a")
    target.register_patient(sex="male", identifiers=IDENTIFIERS[1:], actor="dr.z")
    with pytest.raises(DuplicateError, match="one of these identifiers"):
        target.import_bundle(bundle, actor="dr.z")
    assert len(target.patients(actor="dr.z")) == 1


def break_resource(bundle: dict[str, Any], kind: str, change: Any) -> dict[str, Any]:
    broken = copy.deepcopy(bundle)
    resource = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == kind)
    change(resource)
    return broken


@pytest.mark.parametrize(
    ("resource", "change", "error", "message"),
    [
        ("Patient", lambda r: r.pop("meta"), InvalidResourceError, r"meta.versionId"),
        ("Procedure", lambda r: r.pop("code"), InvalidResourceError, r"one technique coding"),
        (
            "Procedure",
            lambda r: r["code"]["coding"][0].update(code="magic"),
            InvalidRecordError,
            "technique must be one of",
        ),
        (
            "Procedure",
            lambda r: r.update(performedDateTime="2026-13-01"),
            InvalidResourceError,
            r"performedDateTime must be a date",
        ),
        (
            "RiskAssessment",
            lambda r: r["extension"][2]["valueAttachment"].update(data="@@"),
            InvalidResourceError,
            "not a base64 JSON object",
        ),
        (
            "Observation",
            lambda r: r.update(subject={"reference": "Patient/other"}),
            InvalidResourceError,
            "subject must be the Bundle's Patient",
        ),
        (
            "Appointment",
            lambda r: r.pop("identifier"),
            InvalidResourceError,
            "one follow-up identifier",
        ),
        (
            "Appointment",
            lambda r: r["participant"][0].update(actor={"reference": "Patient/x"}),
            InvalidResourceError,
            "participant must be the Bundle's Patient",
        ),
        ("Patient", lambda r: r.update(resourceType="Person"), NoPatientError, "exactly one"),
    ],
)
def test_a_damaged_export_is_refused_naming_the_place_and_stores_nothing(
    source: Registry,
    target: Registry,
    resource: str,
    change: Any,
    error: type[Exception],
    message: str,
) -> None:
    bundle = source.export_patient(rich_patient(source), actor="dr.a")
    with pytest.raises(error, match=message):
        target.import_bundle(break_resource(bundle, resource, change), actor="dr.z")
    assert target.patients(actor="dr.z") == ()


def test_resources_another_system_added_are_ignored(source: Registry, target: Registry) -> None:
    pid = rich_patient(source)
    bundle = source.export_patient(pid, actor="dr.a")
    bundle["entry"] += [
        {"resource": {"resourceType": "Encounter", "id": "e1", "status": "finished"}},
        {
            "resource": {
                "resourceType": "Observation",
                "id": "bp",
                "status": "final",
                "code": {"text": "Blood pressure"},
                "subject": {"reference": "Patient/someone-else"},
            }
        },
    ]
    target.import_bundle(bundle, actor="dr.z")
    check_same_file(source.patient_file(pid, actor="dr.a"), target.patient_file(pid, actor="dr.z"))


def test_a_clinical_bundle_is_recorded_rather_than_restored(target: Registry) -> None:
    done = target.import_bundle(
        orjson.loads(SEED.read_bytes()), actor="dr.z", as_of=D("2026-01-01")
    )
    assert (done.how, done.created) == ("recorded", True)
    [assessment] = target.patient_file(done.patient_id, actor="dr.z").assessments
    assert assessment.contract()["calcinosis"]["type"] == "dystrophic"
