"""The web UI over plain HTTP against the real server: statuses, error pages, kept form values,
the report page, the PDF (read back with pdftotext) and what reaches the logs."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

import calcinosis
from browser import EXPECTED, SEED_BUNDLE, artifacts_dir, pdf_text
from calcinosis.web.app import create_app
from calcinosis.web.settings import Settings
from calcinosis.web.ui import error_page
from webserver import serving

MAX_BYTES = 100_000
SEED = SEED_BUNDLE.read_bytes()
SEED_EXPECTED = json.loads(EXPECTED.read_text(encoding="utf-8"))["dev-seed-palanivel-2026"]
HTML = {"Accept": "text/html,application/xhtml+xml"}
REPORT_PATH = re.compile(r"^/report/[A-Za-z0-9_-]{16,}$")


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    build = lambda url: create_app(Settings(public_url=url, max_bytes=MAX_BYTES))  # noqa: E731
    with serving(build) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


def upload(client: httpx.Client, data: bytes, as_of: str = "2026-01-01") -> httpx.Response:
    files = {"bundle_file": ("bundle.json", data, "application/json")}
    return client.post("/assess", data={"mode": "upload", "as_of": as_of}, files=files)


def paste(client: httpx.Client, text: str) -> httpx.Response:
    # multipart, as the browser sends it (the forms declare enctype="multipart/form-data")
    fields = {"mode": (None, "paste"), "as_of": (None, "2026-01-01"), "bundle_json": (None, text)}
    return client.post("/assess", files=fields)


def seed_report(client: httpx.Client) -> str:
    response = upload(client, SEED)
    assert response.status_code == 303
    return str(response.headers["location"])


def bundle_with(*resources: dict[str, Any]) -> str:
    entries = [{"fullUrl": f"urn:uuid:r{i}", "resource": r} for i, r in enumerate(resources)]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def test_the_home_page_offers_three_ways_in(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    modes = re.findall(r'name="mode" value="([a-z]+)"', page)
    assert modes == ["upload", "paste", "case"]
    assert page.count('action="/assess" method="post" enctype="multipart/form-data"') == 3
    for href in ('href="/docs"', 'href="/cds-services"', 'href="/feedback"', 'href="#main"'):
        assert href in page
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


def test_an_upload_is_assessed_stored_and_shown(client: httpx.Client) -> None:
    location = seed_report(client)
    assert REPORT_PATH.match(location)
    response = client.get(location)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert f'data-level="{SEED_EXPECTED["dcc_in_acne_suspicion"]}"' in page
    assert f'data-type="{SEED_EXPECTED["calcinosis_type"]}"' in page
    assert calcinosis.load_knowledge().version in page
    assert "2026-01-01" in page
    assert "Decision support, not a diagnosis." in page
    assert f'href="https://doi.org/{SEED_EXPECTED["doi"]}"' in page
    assert page.count('<details class="basis">') >= 5
    assert "e0ff10fe" not in page  # the patient's resource id is not shown


@pytest.mark.parametrize(
    ("text", "status", "message"),
    [
        ("{not json", 400, "The pasted JSON cannot be assessed: not valid JSON"),
        ("[1, 2]", 422, "the top level is an array, not a JSON object holding a FHIR Bundle"),
        ('{"resourceType": "Patient"}', 422, "the input is not a FHIR Bundle"),
        (bundle_with({"resourceType": "Condition"}), 422, "the Bundle holds no Patient resource"),
        (
            bundle_with(
                {"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}
            ),
            422,
            "the Bundle holds 2 patients; assess one patient per Bundle",
        ),
        ("   ", 422, "Paste a FHIR Bundle (JSON) into the box"),
    ],
)
def test_pasted_input_errors_are_shown_on_the_form_with_the_text_kept(
    client: httpx.Client, text: str, status: int, message: str
) -> None:
    response = paste(client, text)
    assert response.status_code == status
    page = response.text
    assert html.escape(message, quote=True) in page
    assert 'id="error-summary"' in page
    assert 'href="#paste-bundle-json"' in page
    assert 'aria-invalid="true"' in page
    kept = re.search(r'<textarea id="paste-bundle-json"[^>]*>(.*?)</textarea>', page, re.S)
    assert kept is not None
    assert html.unescape(kept.group(1)) == text
    assert "Traceback" not in page


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"mode": "upload"}, 422, 'href="#upload-bundle-file">Choose a FHIR Bundle file to upload'),
        (
            {"mode": "paste", "bundle_json": "{}", "as_of": "2026-13-01"},
            422,
            'href="#paste-as-of">Assessment date: &#39;2026-13-01&#39; is not a date',
        ),
        ({"mode": "other"}, 400, "<li>Unknown form: use one below</li>"),
    ],
)
def test_incomplete_submissions_are_named(
    client: httpx.Client, fields: dict[str, str], status: int, message: str
) -> None:
    response = client.post("/assess", files={k: (None, v) for k, v in fields.items()})
    assert response.status_code == status
    assert message in response.text


def test_a_file_over_the_limit_is_refused_with_413_on_the_form(client: httpx.Client) -> None:
    response = upload(client, b" " * (MAX_BYTES + 1))
    assert response.status_code == 413
    assert "The uploaded file cannot be assessed: it is larger than the limit of 97.7 KiB" in (
        response.text
    )
    assert 'href="#upload-bundle-file"' in response.text


def test_a_body_far_over_the_limit_is_stopped_early(client: httpx.Client) -> None:
    response = upload(client, b"x" * (MAX_BYTES * 5))
    assert response.status_code == 413
    assert "What was sent cannot be assessed: it is larger than the limit of 97.7 KiB" in (
        response.text
    )


def test_bad_form_values_come_back_with_messages_and_the_values_kept(client: httpx.Client) -> None:
    fields = {
        "mode": (None, "case"),
        "age": (None, "29"),
        "sex": (None, "female"),
        "lab_calcium_value": (None, "abc"),
        "sites": (None, "cheeks"),
    }
    response = client.post("/assess", files=fields)
    assert response.status_code == 422
    page = response.text
    message = "Serum calcium (total): &#39;abc&#39; is not a number (use digits, e.g. 2.5)"
    assert page.count(message) == 2  # in the summary and at the field
    assert 'href="#case-lab-calcium-value"' in page
    assert re.search(
        r'id="case-lab-calcium-value" name="lab_calcium_value" type="text" value="abc"', page
    )
    assert 'name="age" type="text" value="29"' in page
    assert '<option value="female" selected>' in page
    assert re.search(r'name="sites" value="cheeks"\s+checked', page)
    assert response.headers["cache-control"] == "no-store"


def test_the_case_form_is_assessed_and_redirects_to_its_report(client: httpx.Client) -> None:
    fields = {
        "mode": "case",
        "as_of": "2026-01-01",
        "age": "29",
        "sex": "female",
        "acne": "active",
        "acne_onset": "teens",
        "isotretinoin_response": "no response",
        "consistency": "hard",
        "colour": "skin-coloured",
        "sites": "cheeks",
        "stretching": "yes",
        "chalky": "yes",
    }
    response = client.post("/assess", files={k: (None, v) for k, v in fields.items()})
    assert response.status_code == 303
    report = client.get(response.headers["location"])
    assert 'data-level="high"' in report.text
    assert "Structured case form" in report.text


def test_an_unknown_report_is_a_404_page_for_people_and_an_outcome_for_machines(
    client: httpx.Client,
) -> None:
    page = client.get("/report/no-such-report", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert "No report has this id; it may have expired." in page.text
    machine = client.get("/report/no-such-report")
    assert machine.status_code == 404
    assert machine.json()["issue"][0]["details"]["coding"][0]["code"] == "report-not-found"
    assert client.get("/report/no-such-report.pdf", headers=HTML).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "title"),
    [
        ("GET", "/nowhere", HTML, 404, "Page not found"),
        ("DELETE", "/", HTML, 405, "Not allowed here"),
        (
            "POST",
            "/assess",
            {**HTML, "Content-Type": "text/plain"},
            415,
            "Unsupported content type",
        ),
    ],
)
def test_browser_errors_get_a_friendly_page(
    client: httpx.Client, method: str, path: str, headers: dict[str, str], status: int, title: str
) -> None:
    response = client.request(method, path, headers=headers, content=b"x")
    assert response.status_code == status
    assert f"<h1>{title}</h1>" in response.text
    assert 'href="/"' in response.text
    assert "Traceback" not in response.text


def test_the_error_page_for_a_server_error_names_the_request_id() -> None:
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    scope["state"] = {"request_id": "0123abcd"}
    response = error_page(Request(scope), 500, "internal error; quote request id 0123abcd")
    assert response.status_code == 500
    body = bytes(response.body).decode()
    assert "<h1>Something went wrong</h1>" in body
    assert "<code>0123abcd</code>" in body


def test_reloading_the_assess_address_goes_home(client: httpx.Client) -> None:
    response = client.get("/assess")
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_the_pdf_is_an_attachment_without_patient_identifiers(client: httpx.Client) -> None:
    location = seed_report(client)
    response = client.get(location + ".pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        'attachment; filename="calcinosis-report-2026-01-01.pdf"'
    )
    assert response.content.startswith(b"%PDF-")
    path = artifacts_dir() / "report-http.pdf"
    path.write_bytes(response.content)
    text = " ".join(pdf_text(path).split())
    assert "Suspicion of dystrophic calcinosis cutis (DCC) behind acne High" in text
    assert "Calcinosis type Dystrophic calcinosis cutis" in text
    assert "Decision support, not a diagnosis" in text
    assert "doi:10.46889/JDR.2026.7105" in text


def test_logs_and_audit_carry_no_patient_data(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fields = {
        "mode": "case",
        "age": "47",
        "sex": "male",
        "history_text": "Zanzibar-unique-marker",
        "lab_calcium_value": "9.87",
    }
    assert (
        client.post("/assess", files={k: (None, v) for k, v in fields.items()}).status_code == 303
    )
    assert paste(client, "{broken Zanzibar-unique-marker").status_code == 400
    assert upload(client, SEED).status_code == 303
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert '"route":"/assess"' in logged
    assert '"service":"web-assess"' in logged
    assert '"outcome":"assessed"' in logged
    assert '"outcome":"invalid-json"' in logged
    for secret in ("Zanzibar", "9.87", "e0ff10fe", "1997-01-01", "Comedonal acne"):
        assert secret not in logged


def test_static_files_are_served(client: httpx.Client) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200
    assert ":focus-visible" in css.text
    assert client.get("/static/app.js").status_code == 200


def test_the_templates_are_shared_with_other_pages() -> None:
    from calcinosis.web.ui import templates

    source = Path(str(templates.env.loader.get_source(templates.env, "base.html")[1]))
    assert source.name == "base.html"
    page = (
        '{% extends "base.html" %}'
        "{% block title %}T{% endblock %}{% block content %}C{% endblock %}"
    )
    rendered = templates.env.from_string(page).render()
    assert "<title>T · Calcinosis</title>" in rendered
    assert 'href="/feedback"' in rendered
