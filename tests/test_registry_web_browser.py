"""The issue's "Done means" in a real browser (Debian's Chromium through Playwright), against the
real server, on SQLite and on PostgreSQL:

A new user signs in, records the seed case with two extraction sessions and a 3-month
follow-up, sees the timeline, finds her lost to follow-up 13 months after the last session,
exports her as FHIR and imports her into an empty database unchanged.

Each step leaves a screenshot in the artefacts directory (see browser.py); every registry page
is checked for labels, heading order, contrast and a 375 px wide screen on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page

import pg
from browser import (
    HEADING_PROBLEMS,
    LOW_CONTRAST,
    SEED_BUNDLE,
    UNLABELLED_CONTROLS,
    artifacts_dir,
    chromium,
    screenshot,
)
from registry_web import PASSWORD, Clinic, clinic

NARROW = {"width": 375, "height": 812}
SESSIONS = ("2026-01-15", "2026-02-12")
THREE_MONTH_VISIT = "2026-05-14"
THIRTEEN_MONTHS_LATER = "2027-03-12"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module", params=pg.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def site(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic(kind, tmp_path_factory.mktemp(f"browser-{kind}")) as made:
        yield made


@pytest.fixture(scope="module")
def empty_site(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic(kind, tmp_path_factory.mktemp(f"browser-empty-{kind}")) as made:
        yield made


def new_page(browser: Browser, site: Clinic, **options: Any) -> Page:
    context = browser.new_context(
        base_url=site.base_url,
        viewport=options.pop("viewport", {"width": 1280, "height": 900}),
        accept_downloads=True,
        **options,
    )
    return context.new_page()


def sign_in(page: Page, username: str = "dr.a") -> None:
    page.goto("/registry")
    page.wait_for_url("**/sign-in?next=**")
    page.fill("#sign-in-username", username)
    page.fill("#sign-in-password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/registry")


def check_page(page: Page, name: str) -> None:
    """Labels, headings and contrast where the page is now; then again at 375 px wide."""
    assert page.evaluate(UNLABELLED_CONTROLS) == [], name
    assert page.evaluate(HEADING_PROBLEMS) == [], name
    assert page.evaluate(LOW_CONTRAST) == [], name
    screenshot(page, f"registry-{name}")
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    fits = page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"registry-{name}-375px")
    assert size is not None
    page.set_viewport_size(size)
    assert fits, f"{name} scrolls sideways at 375 px"


def record_the_seed(page: Page, kind: str) -> str:
    page.click("nav[aria-label='Registry'] >> text=Record a patient")
    check_page(page, f"new-patient-{kind}")
    page.set_input_files("#new-bundle-file", str(SEED_BUNDLE))
    page.fill("#new-as-of", "2026-01-01")
    page.click("button:has-text('Record the patient')")
    page.wait_for_url("**/registry/patients/*?done=recorded")
    assert page.inner_text("#done") == "The patient was recorded and assessed."
    assert page.get_attribute("#latest-assessment dd[data-level]", "data-level") == "high"
    return page.url.split("/registry/patients/")[1].split("?")[0]


def record_sessions_plan_and_visit(page: Page) -> None:
    for day in SESSIONS:
        page.fill("#session-performed-on", day)
        page.select_option("#session-technique", "rf-assisted-extraction")
        page.fill("#session-lesions-treated", "12")
        page.click("button:has-text('Record the session')")
        page.wait_for_url("**?done=session")
    page.click("#schedule-button")
    page.wait_for_url("**?done=plan")
    options = page.eval_on_selector_all(
        "#follow-up-review option", "els => els.map(e => [e.value, e.textContent])"
    )
    [three_months] = [value for value, label in options if "3-month" in label]
    page.select_option("#follow-up-review", three_months)
    page.fill("#follow-up-done-date", THREE_MONTH_VISIT)
    page.check("label:has-text('No recurrence')")
    page.fill("#follow-up-lesion-count", "0")
    page.fill("#follow-up-satisfaction", "9")
    page.click("button:has-text('Record the visit')")
    page.wait_for_url("**?done=follow-up")


def check_timeline(page: Page, kind: str) -> None:
    svg = page.locator("#timeline-svg")
    assert svg.is_visible()
    assert svg.get_attribute("role") == "img"
    assert page.locator("#timeline-svg > title").text_content().startswith("Course of Patient ")  # type: ignore[union-attr]
    desc = page.locator("#timeline-svg > desc").text_content() or ""
    assert "2 treatment session(s) (15 Jan 2026, 12 Feb 2026)" in desc
    assert "1 review(s) done (14 May 2026: no recurrence)" in desc
    assert page.locator("#timeline-svg [data-kind=session]").count() == 2
    assert page.locator("#timeline-svg [data-kind=assessment]").count() == 1
    done = page.locator("#timeline-svg [data-kind=review]")
    assert done.count() == 1 and done.get_attribute("data-outcome") == "no-recurrence"
    assert done.get_attribute("data-date") == THREE_MONTH_VISIT
    assert page.locator("#timeline-svg [data-kind=review-planned]").count() == 2
    assert page.locator("#timeline-svg [data-kind=lesion-count]").get_attribute("data-count") == "0"
    kinds = page.eval_on_selector_all("#events tbody tr", "rows => rows.map(r => r.dataset.kind)")
    assert kinds.count("session") == 2 and kinds.count("review") == 1
    check_page(page, f"patient-{kind}")


def check_due(page: Page, patient_id: str, kind: str) -> None:
    page.click("nav[aria-label='Registry'] >> text=Due for follow-up")
    page.fill("#due-as-of", THIRTEEN_MONTHS_LATER)
    page.click("button:has-text('Show')")
    page.wait_for_url(f"**/registry/due?as_of={THIRTEEN_MONTHS_LATER}")
    row = page.locator(f"#due-list tr[data-patient='{patient_id}']")
    assert row.get_attribute("data-status") == "lost-to-follow-up"
    assert "Lost to follow-up" in row.inner_text()
    assert "Long-term review" in row.inner_text()
    check_page(page, f"due-{kind}")
    page.goto(f"/registry?as_of={THIRTEEN_MONTHS_LATER}")
    lost = page.locator("#status-counts [data-status='lost-to-follow-up'] .tally-number")
    assert lost.inner_text() == "1"
    check_page(page, f"overview-{kind}")


def export(page: Page, patient_id: str, kind: str) -> dict[str, Any]:
    page.goto(f"/registry/patients/{patient_id}")
    with page.expect_download() as download:
        page.click("text=Download as FHIR Bundle")
    target = artifacts_dir() / f"registry-export-{kind}.fhir.json"
    download.value.save_as(target)
    bundle: dict[str, Any] = orjson.loads(target.read_bytes())
    assert bundle["resourceType"] == "Bundle"
    return bundle


def without_stamp(bundle: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bundle.items() if k not in ("id", "timestamp")}


def test_done_means_in_a_real_browser(
    browser: Browser, site: Clinic, empty_site: Clinic, kind: str
) -> None:
    page = new_page(browser, site)
    try:
        sign_in(page)
        check_page(page, f"overview-empty-{kind}")
        patient_id = record_the_seed(page, kind)
        record_sessions_plan_and_visit(page)
        check_timeline(page, kind)
        check_due(page, patient_id, kind)
        exported = export(page, patient_id, kind)
    finally:
        page.context.close()
    source_file = site.registry.patient_file(patient_id, actor="test")
    assert [p.performed_on.isoformat() for p in source_file.procedures] == list(SESSIONS)

    elsewhere = new_page(browser, empty_site)
    try:
        sign_in(elsewhere, "dr.b")
        elsewhere.click("nav[aria-label='Registry'] >> text=Record a patient")
        elsewhere.set_input_files(
            "#new-bundle-file", str(artifacts_dir() / f"registry-export-{kind}.fhir.json")
        )
        elsewhere.click("button:has-text('Record the patient')")
        elsewhere.wait_for_url(f"**/registry/patients/{patient_id}?done=restored")
        screenshot(elsewhere, f"registry-imported-{kind}")
    finally:
        elsewhere.context.close()
    assert empty_site.registry.patient_file(patient_id, actor="test") == source_file
    again = empty_site.api("dr.b").get(f"/api/registry/patients/{patient_id}/fhir")
    assert without_stamp(again.json()) == without_stamp(exported)


def test_signing_in_and_out_works_from_the_keyboard(browser: Browser, site: Clinic) -> None:
    page = new_page(browser, site)
    try:
        page.goto("/sign-in")
        check_page(page, "sign-in")
        page.keyboard.press("Tab")  # the skip link first
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.focus("#sign-in-username")
        page.keyboard.type("dr.b")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "sign-in-password"
        page.keyboard.type("not the password")
        page.keyboard.press("Enter")
        page.wait_for_selector("#error-summary")
        assert page.evaluate("document.activeElement.id") == "error-summary"
        check_page(page, "sign-in-refused")
        page.fill("#sign-in-password", PASSWORD)
        page.focus("#sign-in-password")
        page.keyboard.press("Enter")
        page.wait_for_url("**/registry")
        page.focus("button:has-text('Sign out')")
        page.keyboard.press("Enter")
        page.wait_for_url("**/sign-in?signed_out=1")
        page.goto("/registry/due")
        assert "/sign-in?next=" in page.url
    finally:
        page.context.close()


def test_a_patient_is_recorded_from_the_case_form(
    browser: Browser, site: Clinic, kind: str
) -> None:
    page = new_page(browser, site)
    try:
        sign_in(page, "dr.b")
        page.click("nav[aria-label='Registry'] >> text=Record a patient")
        page.fill("#case-age", "two hundred")
        page.select_option("#case-sex", "female")
        page.select_option("#case-acne", "active")
        page.select_option("#case-morphology", "comedo-like papules")
        page.select_option("#case-consistency", "hard")
        page.select_option("#case-colour", "white")
        page.check("#case-comedonal-opening label:has-text('Yes')")
        page.check("#case-form label:has-text('Cheeks')")
        page.fill("#case-count", "60")
        page.check("#case-chalky label:has-text('Yes')")
        page.click("button:has-text('Record from the case form')")
        page.wait_for_selector("#error-summary")
        assert page.locator("#case-age-error").is_visible()
        assert page.input_value("#case-count") == "60"  # the values are kept
        assert page.is_checked("#case-form label:has-text('Cheeks') >> xpath=../input")
        check_page(page, f"case-form-refused-{kind}")
        page.fill("#case-age", "24")
        page.fill("#case-as-of", "2026-01-01")
        page.click("button:has-text('Record from the case form')")
        page.wait_for_url("**/registry/patients/*?done=recorded")
        assert page.get_attribute("#latest-assessment dd[data-level]", "data-level") == "high"
        patient_id = page.url.split("/registry/patients/")[1].split("?")[0]
    finally:
        page.context.close()
    file = site.registry.patient_file(patient_id, actor="test")
    assert [les.count for les in file.lesions] == [60]
