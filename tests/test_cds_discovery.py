"""GET /cds-services: the discovery document, open to anyone, shaped like the spec's example."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator

import httpx
import pytest

import calcinosis
from calcinosis.web.cdshooks.conformance import discovery_problems, prefetch_problems
from test_cds_support import (
    CDSHOOKS,
    ORDER_SELECT,
    ORDER_SIGN,
    PATIENT_VIEW,
    CdsService,
    running_cds,
    shared_json,
    unjekyll,
)


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdsService]:
    with running_cds(tmp_path_factory.mktemp("cds")) as service:
        yield service


def test_discovery_is_open_and_lists_the_three_hooks(cds: CdsService) -> None:
    response = httpx.get(f"{cds.base_url}/cds-services")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    services = response.json()["services"]
    assert sorted((s["hook"], s["id"]) for s in services) == [
        ("order-select", ORDER_SELECT),
        ("order-sign", ORDER_SIGN),
        ("patient-view", PATIENT_VIEW),
    ]


def test_discovery_has_the_structure_of_the_spec_example(cds: CdsService) -> None:
    example = json.loads(
        unjekyll((CDSHOOKS / "spec-2.0.1/01-discovery-response-discovery-example.json").read_text())
    )
    assert discovery_problems(example) == []
    assert discovery_problems(cds.discovery) == []
    assert set(cds.discovery) == set(example) == {"services"}
    spec_fields = {key for service in example["services"] for key in service}
    for service in cds.discovery["services"]:
        assert {"hook", "title", "description", "id", "prefetch"} <= set(service) <= spec_fields
        assert "JWT" in service["usageRequirements"]
        assert all(isinstance(v, str) and v for k, v in service.items() if k != "prefetch")


def test_discovery_with_a_stray_jwt_or_from_a_browser_still_answers(cds: CdsService) -> None:
    response = httpx.get(
        f"{cds.base_url}/cds-services",
        headers={"Authorization": "Bearer not-a-jwt", "Origin": "https://ehr.example.org"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_prefetch_tokens_are_only_context_patient_id(cds: CdsService) -> None:
    for service in cds.discovery["services"]:
        assert prefetch_problems(service["hook"], service["prefetch"], "prefetch") == []
        for template in service["prefetch"].values():
            assert template.count("{{") == 1
            assert "{{context.patientId}}" in template


def test_library_server_rows_forbid_order_context_tokens() -> None:
    """The checker applies the hook library's Server rows (SHALL NOT use draftOrders/selections)."""
    with open(
        CDSHOOKS / "inferno-crd-test-kit/cds-hooks-library_1.0.1_requirements.csv", newline=""
    ) as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["Actors*"] == "Server" and r["Conformance*"] == "SHALL NOT"
        ]
    forbidden = {
        (row["URL*"].split("/")[-1].split(".")[0], row["Requirement*"].split("`")[1])
        for row in rows
    }
    assert ("order-select", "selections") in forbidden and (
        "order-sign",
        "draftOrders",
    ) in forbidden
    for hook, name in forbidden:
        if hook in ("order-select", "order-sign"):
            problems = prefetch_problems(hook, {"x": f"Patient?_id={{{{context.{name}}}}}"}, "p")
            assert problems and "not allowed" in problems[0]


def test_lab_prefetch_asks_for_every_analyte_loinc_code(cds: CdsService) -> None:
    labs = cds.service(PATIENT_VIEW)["prefetch"]["labs"]
    kb = calcinosis.load_knowledge()
    listed = {code.split("|")[-1] for code in labs.split("code=")[1].split(",")}
    assert listed == {code for a in kb.analytes.values() for code in a.loinc}


def test_the_extension_example_discovery_passes_the_checker() -> None:
    example = shared_json("spec-2.0.1/27-discovery-response-extensions.json")
    assert discovery_problems(example) == []


def test_checker_flags_bad_discovery_documents() -> None:
    bad = {
        "services": [
            {"hook": "patient-view", "id": "", "prefetch": {"p": "Patient/{{context.draftOrders}}"}}
        ]
    }
    problems = discovery_problems(bad)
    assert any(".id" in p for p in problems)
    assert any("description: required" in p for p in problems)
    assert any("not allowed" in p for p in problems)
    assert discovery_problems([]) == ["$: must be an object with a services array"]


def test_the_service_is_listed_in_the_openapi_document(cds: CdsService) -> None:
    paths = httpx.get(f"{cds.base_url}/openapi.json").json()["paths"]
    assert {
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
    } <= set(paths)


def test_unknown_service_is_404(cds: CdsService) -> None:
    response = cds.post("no-such-service", {"hook": "patient-view"})
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_prefetch_queries_keep_to_the_recommended_subset(cds: CdsService) -> None:
    """Reads, and type searches with patient= and token equality only (no modifiers, no
    _include, no chaining), as the spec recommends to keep the client's burden low."""
    for service in cds.discovery["services"]:
        for template in service["prefetch"].values():
            path, _, query = template.partition("?")
            if not query:
                assert re.fullmatch(r"[A-Z][A-Za-z]+/\{\{context\.patientId\}\}", path)
                continue
            assert re.fullmatch(r"[A-Z][A-Za-z]+", path)
            for parameter in query.split("&"):
                name, _, value = parameter.partition("=")
                assert name in ("patient", "code", "category"), name
                assert ":" not in name and "." not in name and value


def test_cors_preflight_allows_the_authorization_header(cds: CdsService) -> None:
    response = httpx.options(
        cds.url(PATIENT_VIEW),
        headers={
            "Origin": "https://ehr.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
