"""REST API on a real uvicorn server: the contract JSON, FHIR output, and every refusal as an
OperationOutcome with the right status."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from calcinosis.web import schemas
from calcinosis.web.app import create_app
from calcinosis.web.settings import Settings
from webserver import serving

VIGNETTES = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes"
EXPECTED: dict[str, Any] = json.loads((VIGNETTES / "expected.json").read_text(encoding="utf-8"))
SEED = (VIGNETTES / "bundles" / "dev-seed-palanivel-2026.json").read_bytes()
FHIR_JSON = "application/fhir+json"
MAX_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    def build(url: str) -> Any:
        app = create_app(Settings(public_url=url, max_bytes=MAX_BYTES))

        @app.get("/api/test-only-failure", include_in_schema=False)
        async def failure() -> None:
            raise RuntimeError("secret internals /etc/passwd")

        return app

    with serving(build) as url:
        yield url


def post(base: str, body: bytes, content_type: str | None = "application/json", **kw: Any) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.post(f"{base}/api/assess", content=body, headers=headers, **kw)


def outcome_code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error" and issue["details"]["text"]
    code: str = issue["details"]["coding"][0]["code"]
    return code


@pytest.mark.parametrize("content_type", ["application/json", "application/fhir+json"])
def test_assessment_of_the_seed_matches_the_expected_answer(base: str, content_type: str) -> None:
    response = post(base, SEED, content_type, params={"as_of": "2026-01-01"})
    assert response.status_code == 200
    result = response.json()
    expected = EXPECTED["dev-seed-palanivel-2026"]
    assert result["dcc_suspicion"]["level"] == expected["dcc_in_acne_suspicion"]
    assert result["calcinosis"]["type"] == expected["calcinosis_type"]
    assert result["differential"][0]["id"] == expected["top_differential"]


@pytest.mark.parametrize("vid", sorted(EXPECTED))
def test_every_response_matches_the_published_schema(base: str, vid: str) -> None:
    body = (VIGNETTES / "bundles" / f"{vid}.json").read_bytes()
    response = post(base, body, params={"as_of": "2026-01-01"})
    assert response.status_code == 200
    errors = [
        e.message
        for e in jsonschema_rs.validator_for(schemas.ASSESSMENT_SCHEMA).iter_errors(response.json())
    ]
    assert errors == []


def test_same_input_gives_byte_identical_output(base: str) -> None:
    first = post(base, SEED, params={"as_of": "2026-01-01"}).content
    second = post(base, SEED, params={"as_of": "2026-01-01"}).content
    assert first == second and b'"as_of":"2026-01-01"' in first


def test_fhir_format_returns_a_bundle_of_risk_assessment_and_guidance(base: str) -> None:
    response = post(base, SEED, params={"format": "fhir", "as_of": "2026-01-01"})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    kinds = sorted(e["resource"]["resourceType"] for e in response.json()["entry"])
    assert kinds == ["GuidanceResponse", "RiskAssessment"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{", 400, "invalid-json"),
        (b"", 400, "invalid-json"),
        (b"\xff\xfe{}", 400, "invalid-json"),
        (b"[]", 422, "not-a-bundle"),
        (b'{"resourceType": "Patient"}', 422, "not-a-bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', 422, "no-patient"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": ['
            b'{"resource": {"resourceType": "Patient", "id": "a"}},'
            b'{"resource": {"resourceType": "Patient", "id": "b"}}]}',
            422,
            "multiple-patients",
        ),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": 7}', 422, "invalid-resource"),
    ],
)
def test_bad_bodies_are_refused_with_their_code(
    base: str, body: bytes, status: int, code: str
) -> None:
    response = post(base, body)
    assert (response.status_code, outcome_code(response)) == (status, code)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "multipart/x"])
def test_other_content_types_are_415(base: str, content_type: str | None) -> None:
    response = post(base, SEED, content_type)
    assert (response.status_code, outcome_code(response)) == (415, "unsupported-media-type")


def test_a_declared_oversize_body_is_refused_before_it_is_read(base: str) -> None:
    response = post(base, b"{" + b" " * MAX_BYTES + b"}")
    assert (response.status_code, outcome_code(response)) == (413, "too-large")


def test_an_oversize_body_without_length_is_stopped_while_streaming(base: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(1000):
            sent += 8192
            yield b" " * 8192

    with httpx.Client() as client:
        response = client.post(
            f"{base}/api/assess", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert (response.status_code, outcome_code(response)) == (413, "too-large")


@pytest.mark.parametrize(
    ("params", "field"), [({"as_of": "2026-13-01"}, "as_of"), ({"format": "xml"}, "format")]
)
def test_bad_query_parameters_are_400(base: str, params: dict[str, str], field: str) -> None:
    response = post(base, SEED, params=params)
    assert response.status_code == 400
    outcome_code(response)
    assert field in response.json()["issue"][0]["details"]["text"]


def test_unknown_path_is_404_and_wrong_method_405(base: str) -> None:
    missing = httpx.get(f"{base}/api/nothing-here")
    wrong = httpx.get(f"{base}/api/assess")
    assert (missing.status_code, outcome_code(missing)) == (404, "not-found")
    assert (wrong.status_code, outcome_code(wrong)) == (405, "method-not-allowed")


def test_unexpected_errors_are_500_without_internals(base: str) -> None:
    response = httpx.get(f"{base}/api/test-only-failure")
    assert (response.status_code, outcome_code(response)) == (500, "internal-error")
    assert "passwd" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] in response.text


def test_knowledge_endpoint_lists_version_and_citations(base: str) -> None:
    body = httpx.get(f"{base}/api/knowledge").json()
    assert body["version"] and body["date"]
    ids = {c["id"] for c in body["citations"]}
    assert "palanivel-2026" in ids
    assert all(c["text"] for c in body["citations"])


def test_health_and_readiness(base: str) -> None:
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_cors_preflight_allows_browser_based_ehrs(base: str) -> None:
    response = httpx.options(
        f"{base}/api/assess",
        headers={
            "origin": "https://sandbox.example.org",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.example.org")
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_openapi_document_describes_the_api(base: str) -> None:
    doc = httpx.get(f"{base}/openapi.json").json()
    assess = doc["paths"]["/api/assess"]["post"]
    assert set(assess["requestBody"]["content"]) == {"application/json", FHIR_JSON}
    assert {"200", "400", "413", "415", "422"} <= set(assess["responses"])
    assert "/api/test-only-failure" not in doc["paths"]
    assert httpx.get(f"{base}/docs").status_code == 200


def test_logs_have_one_line_per_request_and_no_patient_data(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed = json.loads(SEED)
    patient = next(
        e["resource"] for e in seed["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    with caplog.at_level(logging.INFO, logger="calcinosis"):
        ok = post(base, SEED, params={"as_of": "2026-01-01"})
        bad = post(base, b"[]")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "calcinosis.access"]
    ids = {ok.headers["x-request-id"], bad.headers["x-request-id"]}
    mine = [line for line in lines if line["request_id"] in ids]
    assert sorted(line["status"] for line in mine) == [200, 422]
    assert {line["route"] for line in mine} == {"/api/assess"}
    assert all(line["latency_ms"] >= 0 for line in mine)
    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "calcinosis.audit"]
    outcomes = {a["outcome"] for a in audit if a["request_id"] in ids}
    assert outcomes == {"assessed", "not-a-bundle"}
    logged = " ".join(r.getMessage() for r in caplog.records)
    secrets = [patient["id"], patient.get("birthDate", "")]
    secrets += [n.get("family", "") for n in patient.get("name", [])]
    assert [s for s in secrets if s and s in logged] == []
    assert "2026-01-01" not in logged  # the as-of date from the query never reaches the log
