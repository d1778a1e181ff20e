"""Recording a patient from the structured case form over HTTP, on SQLite and PostgreSQL: the
form's Bundle is recorded like an uploaded one, errors are shown on the form with the values kept,
and the form is refused without the session's CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest

import pg
from registry_web import Clinic, clinic

CASE = {
    "mode": "case",
    "as_of": "2026-01-01",
    "age": "24",
    "sex": "female",
    "acne": "active",
    "morphology": "comedo-like papules",
    "consistency": "hard",
    "colour": "white",
    "sites": ["cheeks", "forehead"],
    "count": "60",
    "size_mm": "2",
    "chalky": "yes",
    "comedonal_opening": "yes",
    "pain": "no",
}


@pytest.fixture(scope="module", params=pg.KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with clinic(str(request.param), tmp_path_factory.mktemp(f"case-{request.param}")) as made:
        yield made


@pytest.fixture(scope="module")
def browser(site: Clinic) -> httpx.Client:
    return site.signed_in("dr.a")


def patients(site: Clinic) -> int:
    return len(site.registry.overview(dt.date.today(), actor="test").patients)


def post(browser: httpx.Client, csrf: str, fields: dict[str, object]) -> httpx.Response:
    return browser.post("/registry/patients", data={"csrf_token": csrf, **fields})


def test_the_new_patient_page_offers_the_case_form(browser: httpx.Client) -> None:
    page = browser.get("/registry/patients/new")
    assert page.status_code == 200
    assert 'id="case-form"' in page.text and 'name="mode" value="case"' in page.text
    for field in ("case-age", "case-count", "case-sites", "case-as-of"):
        assert f'id="{field}"' in page.text, field


def test_a_case_from_the_form_is_recorded_and_assessed(site: Clinic, browser: httpx.Client) -> None:
    made = post(browser, site.csrf(browser), CASE)
    assert made.status_code == 303, made.text
    assert made.headers["location"].endswith("?done=recorded")
    patient_id = made.headers["location"].split("/")[3].split("?")[0]
    file = site.registry.patient_file(patient_id, actor="test")
    assert [les.count for les in file.lesions] == [60]
    latest = file.latest_assessment()
    assert latest is not None and latest.as_of.isoformat() == "2026-01-01"
    assert latest.contract()["dcc_suspicion"]["level"] == "high"


def test_form_errors_are_shown_on_the_form_with_the_values_kept(
    site: Clinic, browser: httpx.Client
) -> None:
    before = patients(site)
    bad = {**CASE, "age": "two hundred", "count": "-1", "as_of": "01/02/2026"}
    refused = post(browser, site.csrf(browser), bad)
    assert refused.status_code == 422
    ids = re.findall(r'<p class="error-message" id="([^"]+)-error"', refused.text)
    assert {"case-age", "case-count", "case-as-of"} <= set(ids)
    assert 'href="#case-age"' in refused.text  # the summary links to the field
    assert 'value="two hundred"' in refused.text and 'value="01/02/2026"' in refused.text
    assert re.search(r'value="cheeks"\s+checked', refused.text)
    assert patients(site) == before  # nothing recorded


def test_the_case_form_needs_the_csrf_token(site: Clinic, browser: httpx.Client) -> None:
    refused = browser.post("/registry/patients", data=CASE)
    assert refused.status_code == 403
    forged = post(browser, "forged", CASE)
    assert forged.status_code == 403


def test_the_case_form_needs_a_signed_in_user(site: Clinic) -> None:
    before = patients(site)
    anonymous = site.client().post("/registry/patients", data=CASE)
    assert anonymous.status_code == 303
    assert "/sign-in" in anonymous.headers["location"]
    assert patients(site) == before
