"""The registry's pages over HTTP (the browser test walks the happy path): form errors that name
the field and keep what was typed, a review completed from a stale page refused, headers that
keep patient data out of caches, the FHIR download, and the timeline SVG itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from calcinosis.registry.timeline import TimelineEvent
from calcinosis.web.app import create_app
from calcinosis.web.registry.timeline_svg import timeline_svg
from calcinosis.web.settings import Settings
from registry_web import SEED, Clinic, clinic
from webserver import serving

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic("sqlite", tmp_path_factory.mktemp("pages")) as made:
        yield made


@pytest.fixture(scope="module")
def browser(site: Clinic) -> httpx.Client:
    return site.signed_in("dr.a")


@pytest.fixture(scope="module")
def csrf(site: Clinic, browser: httpx.Client) -> str:
    return site.csrf(browser)


@pytest.fixture(scope="module")
def patient_id(browser: httpx.Client, csrf: str) -> str:
    made = browser.post(
        "/registry/patients",
        data={"csrf_token": csrf, "as_of": "2026-01-01"},
        files={"bundle_file": ("seed.json", SEED.read_bytes(), "application/json")},
    )
    assert made.status_code == 303
    return str(made.headers["location"].split("/")[3].split("?")[0])


def error_ids(html: str) -> list[str]:
    return re.findall(r'<p class="error-message" id="([^"]+)-error"', html)


def test_registry_pages_are_never_cached_and_keep_the_security_headers(
    browser: httpx.Client, patient_id: str
) -> None:
    for path in (
        "/registry",
        "/registry/due",
        "/registry/patients/new",
        f"/registry/patients/{patient_id}",
    ):
        page = browser.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("files", "fields", "status", "message"),
    [
        (None, {}, 422, "Choose a FHIR Bundle file"),
        ({"bundle_file": ("x.json", b"{oops", "application/json")}, {}, 400, "cannot be recorded"),
        (None, {"bundle_json": '{"resourceType": "Patient"}'}, 422, "cannot be recorded"),
        (None, {"bundle_json": "{}", "as_of": "01/02/2026"}, 422, "as YYYY-MM-DD"),
    ],
)
def test_a_bundle_that_cannot_be_recorded_is_explained_on_the_form(
    browser: httpx.Client,
    csrf: str,
    files: dict[str, tuple[str, bytes, str]] | None,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    refused = browser.post("/registry/patients", data={"csrf_token": csrf, **fields}, files=files)
    assert refused.status_code == status
    assert 'id="error-summary"' in refused.text and message in refused.text
    assert 'href="#new-' in refused.text  # the summary links to the field


def test_session_form_errors_name_the_fields_and_keep_the_values(
    browser: httpx.Client, csrf: str, patient_id: str
) -> None:
    refused = browser.post(
        f"/registry/patients/{patient_id}/sessions",
        data={
            "csrf_token": csrf,
            "performed_on": "15/01/2026",
            "technique": "magic",
            "lesions_treated": "-3",
            "complications": "mild redness",
        },
    )
    assert refused.status_code == 422
    assert error_ids(refused.text) == [
        "session-performed-on",
        "session-technique",
        "session-lesions-treated",
    ]
    assert 'value="15/01/2026"' in refused.text and "mild redness</textarea>" in refused.text
    assert site_sessions(browser, patient_id) == 0


def site_sessions(browser: httpx.Client, patient_id: str) -> int:
    page = browser.get(f"/registry/patients/{patient_id}").text
    return page.count('data-kind="session"') // 2  # a marker in the SVG and a table row


def test_a_review_changed_since_the_page_was_shown_is_not_overwritten(
    site: Clinic, browser: httpx.Client, csrf: str, patient_id: str
) -> None:
    assert (
        browser.post(f"/registry/patients/{patient_id}/plan", data={"csrf_token": csrf}).status_code
        == 303
    )
    page = browser.get(f"/registry/patients/{patient_id}").text
    [shown] = re.findall(r'<option value="([0-9a-f-]{36}@1)"[^>]*>3-month', page)
    review_id = shown.split("@")[0]
    current = site.registry.follow_up(review_id, actor="test")
    moved = site.registry.update_follow_up(
        dataclasses.replace(current, due_by=dt.date(2026, 7, 1)), actor="dr.b"
    )
    assert moved.version == 2
    stale = browser.post(
        f"/registry/patients/{patient_id}/follow-ups",
        data={"csrf_token": csrf, "review": shown, "done_date": "2026-04-02", "recurrence": "no"},
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    after = site.registry.follow_up(review_id, actor="test")
    assert (after.done_date, after.due_by, after.version) == (None, dt.date(2026, 7, 1), 2)
    unknown = browser.post(
        f"/registry/patients/{patient_id}/follow-ups",
        data={"csrf_token": csrf, "review": "nonsense", "done_date": "2026-04-02"},
    )
    assert unknown.status_code == 422 and error_ids(unknown.text) == ["follow-up-review"]


def test_the_fhir_download_is_an_attachment(browser: httpx.Client, patient_id: str) -> None:
    download = browser.get(f"/registry/patients/{patient_id}/fhir")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/fhir+json"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="patient-{patient_id}.fhir.json"'
    )
    assert download.headers["cache-control"] == "no-store"
    assert download.json()["resourceType"] == "Bundle"


def test_an_unknown_patient_is_a_404_page(browser: httpx.Client) -> None:
    missing = browser.get(
        "/registry/patients/00000000-0000-4000-8000-000000000000", headers={"Accept": "text/html"}
    )
    assert missing.status_code == 404 and "<h1>Page not found</h1>" in missing.text


def test_the_timeline_svg_is_well_formed_accessible_and_script_free() -> None:
    d = dt.date.fromisoformat
    events = (
        TimelineEvent(d("2026-01-01"), "lesions", "l1", "Lesions: 20 at cheeks", lesion_count=20),
        TimelineEvent(d("2026-01-01"), "assessment", "a1", "Assessment: DCC suspicion high"),
        TimelineEvent(d("2026-01-15"), "session", "s1", "Extraction <12 lesions> & more"),
        TimelineEvent(
            d("2026-05-14"), "review", "r1", "Review: recurrence", lesion_count=3, recurrence=True
        ),
        TimelineEvent(
            d("2026-08-12"), "review-planned", "r2", "Review planned", due_by=d("2027-02-12")
        ),
    )
    markup = timeline_svg(events, title="Course of Patient <x>", today=d("2026-06-01"))
    root = ET.fromstring(markup)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "timeline-title timeline-desc"
    assert root.find(f"{SVG}title").text == "Course of Patient <x>"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "1 treatment session(s) (15 Jan 2026)" in desc
    assert "1 review(s) done (14 May 2026: recurrence)" in desc
    assert "lesion counts 20 on 1 Jan 2026; 3 on 14 May 2026" in desc
    kinds = [el.get("data-kind") for el in root.iter() if el.get("data-kind")]
    assert sorted(kinds) == sorted(
        [
            "lesion-count",
            "lesion-count",
            "assessment",
            "session",
            "review",
            "review-planned",
            "today",
        ]
    )
    for element in root.iter():
        assert element.get("style") is None and not element.tag.endswith("script")
        if element.get("data-kind") in ("session", "review", "assessment"):
            assert element.find(f"{SVG}title") is not None
    assert timeline_svg((), title="empty") == ""


def test_without_a_registry_the_registry_says_how_to_set_one_up() -> None:
    with (
        serving(lambda url: create_app(Settings(public_url=url))) as base,
        httpx.Client(base_url=base) as client,
    ):
        page = client.get("/registry", headers={"Accept": "text/html"})
        assert page.status_code == 503 and "CALCINOSIS_DATABASE_URL" in page.text
        api = client.get("/api/registry/patients")
        assert api.status_code == 503
        code = api.json()["issue"][0]["details"]["coding"][0]["code"]
        assert code == "registry-not-configured"
        assert client.get("/sign-in").status_code == 503
        assert client.get("/").status_code == 200
