"""Reading from the CDS Client's FHIR server when data was not prefetched: a real local server
answers the service's own queries from a vignette, pages its results and checks the token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI

from calcinosis.web.cdshooks.urls import outbound_url_problem, same_base
from test_cds_support import (
    FHIR_TOKEN,
    PATIENT_VIEW,
    CdsService,
    check_conformant,
    check_refused,
    fhir_server_app,
    running_cds,
    searchset,
    vignette,
)
from webserver import serving


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdsService]:
    with running_cds(tmp_path_factory.mktemp("cds"), fhir_timeout_s=1.0) as service:
        yield service


@contextmanager
def fhir_server(name: str, **options: Any) -> Iterator[tuple[str, FastAPI]]:
    app = fhir_server_app(vignette(name), **options)
    with serving(lambda _: app) as base:
        yield f"{base}/fhir", app


def authorized(server: str, token: str = FHIR_TOKEN) -> dict[str, Any]:
    return {
        "fhirServer": server,
        "fhirAuthorization": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Observation.read user/Condition.read",
            "subject": "calcinosis",
        },
    }


def test_without_prefetch_everything_is_read_from_fhir_server_page_by_page(cds: CdsService) -> None:
    resources = vignette("dev-seed-palanivel-2026")
    with fhir_server("dev-seed-palanivel-2026", page_size=3) as (server, app):
        body = cds.hook_request(PATIENT_VIEW, resources, **authorized(server))
        body.pop("prefetch")
        fetched = check_conformant(cds.post(PATIENT_VIEW, body))["cards"][0]
    calls = app.state.calls
    assert calls and all(ok for _, ok in calls)
    assert any("_page=2" in path for path, _ in calls)  # the next links were followed
    kinds = {path.split("?")[0].split("/")[2] for path, _ in calls}
    assert kinds >= {
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "DiagnosticReport",
    }
    prefetched = check_conformant(
        cds.post(PATIENT_VIEW, cds.hook_request(PATIENT_VIEW, resources))
    )["cards"][0]
    for key in ("summary", "indicator", "overrideReasons", "source"):
        assert fetched[key] == prefetched[key]
    assert (
        fetched["detail"].split("**Based on**")[0] == prefetched["detail"].split("**Based on**")[0]
    )


def test_only_missing_keys_are_fetched(cds: CdsService) -> None:
    resources = vignette("dev-calciphylaxis-hd-01")
    with fhir_server("dev-calciphylaxis-hd-01") as (server, app):
        body = cds.hook_request(PATIENT_VIEW, resources, **authorized(server))
        del body["prefetch"]["conditions"]
        body["prefetch"]["labs"] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        }
        card = check_conformant(cds.post(PATIENT_VIEW, body))["cards"][0]
    assert card["indicator"] == "critical"
    searched = sorted({path.split("?")[0].rsplit("/", 1)[1] for path, _ in app.state.calls})
    nulls = [k for k, v in body["prefetch"].items() if v is None]
    assert searched == sorted({"Condition", "Observation", *_kinds(nulls)})


def _kinds(keys: list[str]) -> set[str]:
    names = {
        "notes": "DocumentReference",
        "procedures": "Procedure",
        "medication-administrations": "MedicationAdministration",
        "medication-requests": "MedicationRequest",
        "reports": "DiagnosticReport",
    }
    return {names[k] for k in keys}


def test_a_paginated_prefetch_bundle_is_completed_from_fhir_server(cds: CdsService) -> None:
    resources = vignette("dev-seed-palanivel-2026")
    with fhir_server("dev-seed-palanivel-2026", page_size=2) as (server, app):
        body = cds.hook_request(PATIENT_VIEW, resources, **authorized(server))
        findings = body["prefetch"]["findings"]
        query = cds.service(PATIENT_VIEW)["prefetch"]["findings"].replace(
            "{{context.patientId}}", body["context"]["patientId"]
        )
        body["prefetch"]["findings"] = {
            **searchset([e["resource"] for e in findings["entry"][:2]]),
            "link": [{"relation": "next", "url": f"{server}/{query}&_page=2"}],
        }
        card = check_conformant(cds.post(PATIENT_VIEW, body))["cards"][0]
    assert card["indicator"] == "warning"
    assert any("_page=2" in path for path, _ in app.state.calls)
    assert "Only partly read" not in card["detail"]


def test_a_next_link_outside_fhir_server_is_not_followed(cds: CdsService) -> None:
    elsewhere = fhir_server_app([])
    with (
        serving(lambda _: elsewhere) as other,
        fhir_server("dev-seed-palanivel-2026", page_size=2, next_base=other) as (server, _app),
    ):
        body = cds.hook_request(
            PATIENT_VIEW, vignette("dev-seed-palanivel-2026"), **authorized(server)
        )
        body.pop("prefetch")
        outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert elsewhere.state.calls == []  # the token never went to the other host
    assert "outside fhirServer" in outcome["issue"][0]["details"]["text"]


def test_a_refused_access_token_is_a_412(cds: CdsService) -> None:
    with fhir_server("dev-seed-palanivel-2026") as (server, app):
        body = cds.hook_request(
            PATIENT_VIEW, vignette("dev-seed-palanivel-2026"), **authorized(server, "wrong-token")
        )
        body.pop("prefetch")
        outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert "refused the access token (HTTP 401)" in outcome["issue"][0]["details"]["text"]
    assert app.state.calls and not any(ok for _, ok in app.state.calls)


def test_a_slow_fhir_server_is_a_412_after_the_timeout(cds: CdsService) -> None:
    with fhir_server("dev-seed-palanivel-2026", delay_s=3.0) as (server, _app):
        body = cds.hook_request(
            PATIENT_VIEW, vignette("dev-seed-palanivel-2026"), **authorized(server)
        )
        body.pop("prefetch")
        outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert "did not answer in time" in outcome["issue"][0]["details"]["text"]


def test_an_unknown_patient_on_fhir_server_is_a_412(cds: CdsService) -> None:
    with fhir_server("dev-seed-palanivel-2026") as (server, _app):
        body = cds.hook_request(PATIENT_VIEW, None, **authorized(server))
        outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert "the patient (Patient)" in outcome["issue"][0]["details"]["text"]


def test_fhir_server_without_authorization_is_not_called(cds: CdsService) -> None:
    with fhir_server("dev-seed-palanivel-2026") as (server, app):
        body = cds.hook_request(PATIENT_VIEW, None, fhirServer=server)
        outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert app.state.calls == []
    assert "no fhirAuthorization" in outcome["issue"][0]["details"]["text"]


def test_plain_http_fhir_server_on_a_public_host_gets_no_token(cds: CdsService) -> None:
    body = cds.hook_request(PATIENT_VIEW, None, **authorized("http://hooks.smarthealthit.org:9080"))
    outcome = check_refused(cds.post(PATIENT_VIEW, body), 412, "data-unavailable")
    assert "fhirServer must use https" in outcome["issue"][0]["details"]["text"]


def test_null_prefetch_is_checked_against_fhir_server_when_one_is_given(cds: CdsService) -> None:
    resources = vignette("dev-seed-palanivel-2026")
    with fhir_server("dev-seed-palanivel-2026") as (server, app):
        body = cds.hook_request(PATIENT_VIEW, resources, **authorized(server))
        body["prefetch"]["medication-statements"] = (
            None  # a client that sends null when it could not fetch
        )
        card = check_conformant(cds.post(PATIENT_VIEW, body))["cards"][0]
    assert any("MedicationStatement" in path for path, _ in app.state.calls)
    assert "suspicion: high" in card["detail"]  # the isotretinoin failure was read from the server


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://ehr.example.org/fhir", None),
        ("http://127.0.0.1:8080/fhir", None),
        ("http://localhost/fhir", None),
        ("http://[::1]:8080/fhir", None),
        ("http://ehr.example.org/fhir", "must use https"),
        ("ftp://ehr.example.org/fhir", "is not an absolute http(s) URL"),
        ("https://user:pw@ehr.example.org/fhir", "must not carry credentials"),
        ("https://ehr.example.org:99999/fhir", "is not a valid URL"),
        ("/fhir", "is not an absolute http(s) URL"),
    ],
)
def test_outbound_url_rules(url: str, problem: str | None) -> None:
    found = outbound_url_problem(url)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_same_base_keeps_to_the_server_and_its_path() -> None:
    base = "https://ehr.example.org/fhir"
    assert same_base("https://ehr.example.org/fhir/Observation?_page=2", base)
    assert same_base("https://ehr.example.org/fhir?_getpages=x", base)
    assert not same_base("https://ehr.example.org/fhirevil/Observation", base)
    assert not same_base("https://evil.example.org/fhir/Observation", base)
    assert not same_base("http://ehr.example.org/fhir/Observation", base)
    assert not same_base("https://ehr.example.org:8443/fhir/Observation", base)
