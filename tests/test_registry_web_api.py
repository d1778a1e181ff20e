"""The registry's REST API against the real server, on SQLite and PostgreSQL: records created from
Bundles and JSON, edits with ETag / If-Match (412 when stale, 428 without, never a silent
overwrite), cursor pagination, planning, the due list, FHIR export and import, and every
refusal as an OperationOutcome. Response bodies are checked against the documented models."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

import calcinosis
import pg
from calcinosis.web.registry import schemas
from registry_web import SEED, Clinic, clinic

DAY = "2026-01-01"


@pytest.fixture(scope="module", params=pg.KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with clinic(str(request.param), tmp_path_factory.mktemp("api")) as made:
        yield made


@pytest.fixture(scope="module")
def api(site: Clinic) -> httpx.Client:
    return site.api("dr.a")


def seed(mrn: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = orjson.loads(SEED.read_bytes())
    if mrn is not None:
        bundle["entry"][0]["resource"]["identifier"] = [{"system": "urn:oid:1.2.3", "value": mrn}]
    return bundle


def valid(model: type[BaseModel], body: Any) -> Any:
    model.model_validate(body)
    return body


def outcome_code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["details"]["coding"][0]["code"])


def record(api: httpx.Client, bundle: dict[str, Any]) -> httpx.Response:
    return api.post(
        f"/api/registry/patients?as_of={DAY}",
        content=orjson.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )


@pytest.fixture(scope="module")
def patient_id(api: httpx.Client) -> str:
    made = record(api, seed("MRN-API-1"))
    assert made.status_code == 201
    return str(made.json()["patient"]["id"])


def test_a_patient_is_recorded_from_a_bundle_and_matched_by_identifier(api: httpx.Client) -> None:
    made = record(api, seed("MRN-API-2"))
    assert made.status_code == 201
    body = valid(schemas.RecordedOut, made.json())
    pid = body["patient"]["id"]
    assert made.headers["location"] == f"/api/registry/patients/{pid}"
    assert made.headers["etag"] == '"1"' and made.headers["cache-control"] == "no-store"
    assert (body["created"], body["assessment"]["dcc_suspicion"]) == (True, "high")
    assert body["patient"]["identifiers"] == [{"system": "urn:oid:1.2.3", "value": "MRN-API-2"}]
    again = record(api, seed("MRN-API-2"))
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["patient"]["id"] == pid
    listed = api.get(f"/api/registry/patients/{pid}/assessments").json()["items"]
    assert len(valid(schemas.AssessmentList, {"items": listed})["items"]) == 2
    stored = api.get(f"/api/registry/assessments/{listed[0]['id']}")
    expected = calcinosis.assess_bundle(
        seed("MRN-API-2"), as_of=dt.date.fromisoformat(DAY)
    ).to_dict()
    assert valid(schemas.AssessmentOut, stored.json())["assessment"] == expected


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid-json"),
        (b'{"resourceType": "Patient"}', "application/json", 422, "not-a-bundle"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
            "application/json",
            422,
            "no-patient",
        ),
        (b"<xml/>", "application/xml", 415, "unsupported-media-type"),
    ],
)
def test_bad_bundles_are_refused_as_operation_outcomes(
    api: httpx.Client, content: bytes, content_type: str, status: int, code: str
) -> None:
    refused = api.post(
        "/api/registry/patients", content=content, headers={"Content-Type": content_type}
    )
    assert refused.status_code == status
    assert outcome_code(refused) == code


def test_the_patient_list_pages_by_cursor_without_repeats_or_gaps(
    site: Clinic, api: httpx.Client, patient_id: str
) -> None:
    for year in range(1960, 1967):
        site.registry.register_patient(sex="male", birth_year=year, actor="test")
    seen: list[str] = []
    url: str | None = "/api/registry/patients?limit=3"
    pages = 0
    while url:
        page = api.get(url)
        assert page.status_code == 200
        body = valid(schemas.PatientPage, page.json())
        assert len(body["items"]) <= 3
        seen.extend(p["id"] for p in body["items"])
        url = body["next"]
        pages += 1
    everyone = [p.id for p in site.registry.patients(actor="test", limit=500)]
    assert seen == everyone and len(set(seen)) == len(seen) and pages >= 3
    assert patient_id in seen
    for bad in ("cursor=not-a-cursor", "cursor=", "limit=0", "limit=501", "limit=x"):
        refused = api.get(f"/api/registry/patients?{bad}")
        if bad == "cursor=":
            assert refused.status_code == 200
            continue
        assert refused.status_code == 400, bad
        assert outcome_code(refused) in ("invalid-cursor", "invalid-request")


def test_edits_need_the_current_etag_and_a_stale_one_changes_nothing(
    api: httpx.Client, patient_id: str
) -> None:
    url = f"/api/registry/patients/{patient_id}"
    read = api.get(url)
    assert read.headers["etag"] == '"1"'
    valid(schemas.PatientOut, read.json())
    missing = api.patch(url, json={"birth_year": 1996})
    assert missing.status_code == 428 and outcome_code(missing) == "precondition-required"
    assert api.patch(url, json={"birth_year": 1996}, headers={"If-Match": "*"}).status_code == 428
    weak = api.patch(url, json={"birth_year": 1996}, headers={"If-Match": 'W/"1"'})
    assert weak.status_code == 412
    first = api.patch(url, json={"birth_year": 1996}, headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    assert first.json()["birth_year"] == 1996
    stale = api.patch(url, json={"birth_year": 1995}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and outcome_code(stale) == "conflict"
    assert stale.headers["etag"] == '"2"'
    assert api.get(url).json()["birth_year"] == 1996  # the stale edit changed nothing
    same = api.patch(url, json={"birth_year": 1996}, headers={"If-Match": '"2"'})
    assert same.status_code == 200 and same.headers["etag"] == '"2"'  # no change, no new version


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"sex": None}, "sex"),
        ({"sex": "f"}, "sex"),
        ({"birth_year": "1990"}, "birth_year"),
        ({"name": "Jane"}, "name"),
        ([], "body"),
    ],
)
def test_bad_edits_are_refused_naming_the_field_not_the_value(
    api: httpx.Client, patient_id: str, body: Any, named: str
) -> None:
    url = f"/api/registry/patients/{patient_id}"
    etag = api.get(url).headers["etag"]
    refused = api.patch(url, json=body, headers={"If-Match": etag})
    assert refused.status_code == 422
    message = refused.json()["issue"][0]["details"]["text"]
    assert named in message and "Jane" not in message


def test_sessions_are_created_read_listed_and_edited(api: httpx.Client, patient_id: str) -> None:
    made = api.post(
        f"/api/registry/patients/{patient_id}/procedures",
        json={
            "performed_on": "2026-01-15",
            "technique": "rf-assisted-extraction",
            "lesions_treated": 12,
        },
    )
    assert made.status_code == 201 and made.headers["etag"] == '"1"'
    body = valid(schemas.ProcedureOut, made.json())
    read = api.get(made.headers["location"])
    assert read.json() == body and read.headers["etag"] == '"1"'
    listed = api.get(f"/api/registry/patients/{patient_id}/procedures").json()
    assert body in valid(schemas.ProcedureList, listed)["items"]
    edited = api.patch(
        made.headers["location"],
        json={"complications": "mild erythema"},
        headers={"If-Match": '"1"'},
    )
    assert edited.status_code == 200
    assert (edited.json()["complications"], edited.json()["lesions_treated"]) == (
        "mild erythema",
        12,
    )
    for bad in ({"technique": "magic"}, {"performed_on": "15/01/2026"}, {"lesions_treated": -1}):
        refused = api.patch(made.headers["location"], json=bad, headers={"If-Match": '"2"'})
        assert refused.status_code == 422, bad


def test_two_editors_of_one_lesion_never_overwrite_each_other(
    site: Clinic, patient_id: str
) -> None:
    alice, bob = site.api("dr.a"), site.api("dr.b")
    made = alice.post(
        f"/api/registry/patients/{patient_id}/lesions",
        json={
            "recorded_on": DAY,
            "site": "cheeks",
            "count": 20,
            "size_mm_low": 1,
            "size_mm_high": 3,
        },
    )
    assert made.status_code == 201
    url = made.headers["location"]
    valid(schemas.LesionOut, made.json())
    a_read, b_read = alice.get(url), bob.get(url)
    assert a_read.headers["etag"] == b_read.headers["etag"] == '"1"'
    assert alice.patch(url, json={"count": 18}, headers={"If-Match": '"1"'}).status_code == 200
    lost = bob.patch(url, json={"site": "forehead"}, headers={"If-Match": '"1"'})
    assert lost.status_code == 412 and lost.headers["etag"] == '"2"'
    now = bob.get(url).json()
    assert (now["count"], now["site"]) == (18, "cheeks")
    retried = bob.patch(url, json={"site": "forehead"}, headers={"If-Match": lost.headers["etag"]})
    assert retried.status_code == 200
    assert (retried.json()["count"], retried.json()["site"]) == (18, "forehead")


def test_plan_schedule_complete_the_review_and_the_due_list(
    api: httpx.Client, patient_id: str
) -> None:
    api.post(
        f"/api/registry/patients/{patient_id}/procedures",
        json={"performed_on": "2026-02-12", "technique": "rf-assisted-extraction"},
    )
    plan = api.get(f"/api/registry/patients/{patient_id}/plan")
    assert plan.status_code == 200
    body = valid(schemas.PlanOut, plan.json())
    assert body["anchor"] == "2026-02-12"
    kinds = [r["kind"] for r in body["reviews"]]
    assert "follow-up.recurrence-3-months" in kinds and "follow-up.long-term" in kinds
    scheduled = api.post(f"/api/registry/patients/{patient_id}/plan", json={})
    assert scheduled.status_code == 201
    reviews = valid(schemas.FollowUpList, scheduled.json())["items"]
    [three] = [r for r in reviews if r["kind"] == "follow-up.recurrence-3-months"]
    assert three["planned_date"] == "2026-05-12"
    done = api.patch(
        f"/api/registry/follow-ups/{three['id']}",
        json={"done_date": "2026-05-14", "recurrence": False, "lesion_count": 0, "satisfaction": 9},
        headers={"If-Match": '"1"'},
    )
    assert done.status_code == 200 and done.json()["done_date"] == "2026-05-14"
    visit = api.post(
        f"/api/registry/patients/{patient_id}/follow-ups",
        json={"done_date": "2026-06-01", "satisfaction": 11},
    )
    assert visit.status_code == 422  # satisfaction is 0-10
    due = api.get("/api/registry/due?as_of=2027-03-12")
    entries = valid(schemas.DueList, due.json())["items"]
    [mine] = [e for e in entries if e["patient_id"] == patient_id]
    assert mine["status"] == "lost-to-follow-up" and mine["review"]["kind"] == "follow-up.long-term"
    assert mine["identifiers"] == [{"system": "urn:oid:1.2.3", "value": "MRN-API-1"}]
    assert all(
        e["patient_id"] != patient_id
        for e in api.get("/api/registry/due?as_of=2026-06-01").json()["items"]
    )
    overview = valid(schemas.OverviewOut, api.get("/api/registry/overview?as_of=2027-03-12").json())
    assert (
        overview["counts"]["lost-to-follow-up"] >= 1 and overview["outcomes"]["no_recurrence"] >= 1
    )
    events = valid(
        schemas.Timeline, api.get(f"/api/registry/patients/{patient_id}/timeline").json()
    )
    assert [e["kind"] for e in events["items"]].count("review") == 1
    assert api.get("/api/registry/due?as_of=2027-13-01").status_code == 400


def test_export_is_fhir_and_import_refuses_a_patient_already_there(
    api: httpx.Client, patient_id: str
) -> None:
    exported = api.get(f"/api/registry/patients/{patient_id}/fhir")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/fhir+json"
    bundle = exported.json()
    assert bundle["resourceType"] == "Bundle"
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Observation", "Procedure", "RiskAssessment", "Appointment"} <= types
    twice = api.post(
        "/api/registry/import",
        content=exported.content,
        headers={"Content-Type": "application/fhir+json"},
    )
    assert twice.status_code == 409 and outcome_code(twice) == "duplicate"
    to_patients = api.post(
        "/api/registry/patients",
        content=exported.content,
        headers={"Content-Type": "application/json"},
    )
    assert to_patients.status_code == 422 and outcome_code(to_patients) == "registry-export"
    clinical = api.post(
        "/api/registry/import?as_of=2026-01-01",
        content=orjson.dumps(seed("MRN-API-3")),
        headers={"Content-Type": "application/json"},
    )
    assert clinical.status_code == 201
    assert valid(schemas.ImportedOut, clinical.json())["how"] == "recorded"


def test_unknown_and_malformed_ids_are_refused(api: httpx.Client) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    for path in (
        f"/api/registry/patients/{nobody}",
        f"/api/registry/lesions/{nobody}",
        f"/api/registry/procedures/{nobody}",
        f"/api/registry/follow-ups/{nobody}",
        f"/api/registry/assessments/{nobody}",
        f"/api/registry/patients/{nobody}/fhir",
        f"/api/registry/patients/{nobody}/plan",
    ):
        missing = api.get(path)
        assert missing.status_code == 404 and outcome_code(missing) == "not-found", path
    malformed = api.get("/api/registry/patients/not-a-uuid")
    assert malformed.status_code == 422 and outcome_code(malformed) == "invalid-record"
    no_assessment = api.post(
        "/api/registry/patients/" + nobody + "/lesions", json={"recorded_on": DAY}
    )
    assert no_assessment.status_code == 404


def test_a_patient_without_assessment_cannot_be_planned(site: Clinic, api: httpx.Client) -> None:
    bare = site.registry.register_patient(sex="female", birth_year=1980, actor="test")
    refused = api.get(f"/api/registry/patients/{bare.id}/plan")
    assert refused.status_code == 409 and outcome_code(refused) == "cannot-plan"


def test_the_registry_api_is_documented_with_its_token_scheme(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["apiToken"]["description"],
    }
    patch = document["paths"]["/api/registry/lesions/{lesion_id}"]["patch"]
    assert {"412", "428", "401"} <= set(patch["responses"])
    assert patch["security"] == [{"apiToken": []}]
    assert document["paths"]["/api/registry/patients"]["get"]["tags"] == ["registry"]


def test_only_administrators_read_the_audit_trail_and_it_holds_no_values(
    site: Clinic, api: httpx.Client, patient_id: str
) -> None:
    refused = api.get("/api/registry/audit")
    assert refused.status_code == 403 and outcome_code(refused) == "forbidden"
    admin = site.api("admin.c")
    first = admin.get("/api/registry/audit?limit=5")
    assert first.status_code == 200
    page = valid(schemas.AuditPage, first.json())
    assert len(page["items"]) == 5 and page["next"].startswith("/api/registry/audit?after=")
    everything = []
    url: str | None = "/api/registry/audit?limit=500"
    while url:
        body = admin.get(url).json()
        everything.extend(body["items"])
        url = body["next"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    actions = {(e["actor"], e["action"], e["entity_type"]) for e in everything}
    assert ("api:dr.a", "create", "patient") in actions
    assert ("api:admin.c", "read", "audit") in actions  # reading the trail is audited too
    # The timestamp and the sequence number are the trail's own, and an entity is named only
    # by its generated UUID (or not at all); every other field must carry no value that was
    # recorded about the patient. A timestamp's microseconds or a random UUID can spell
    # "1996" by chance, so those are checked for their form instead of searched.
    fields = {"id", "at", "actor", "action", "entity_type", "entity_id"}
    assert all(set(e) == fields for e in everything)
    assert all(is_uuid_or_empty(e["entity_id"]) for e in everything)
    searched = [{k: e[k] for k in ("actor", "action", "entity_type")} for e in everything]
    text = orjson.dumps(searched).decode()
    for value in ("MRN-API-1", "1996", "mild erythema", "cheeks"):
        assert value not in text


def is_uuid_or_empty(text: str) -> bool:
    try:
        return text == "" or str(uuid.UUID(text)) == text
    except ValueError:
        return False
