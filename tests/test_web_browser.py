"""The web UI in a real browser (Debian's Chromium through Playwright) against the real server.

Each test leaves a screenshot in the artefacts directory (see browser.py). Expected answers for
the seed case come from the development vignettes' expected.json, not from our own output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from browser import (
    EXPECTED,
    HEADING_PROBLEMS,
    LOW_CONTRAST,
    SEED_BUNDLE,
    UNLABELLED_CONTROLS,
    artifacts_dir,
    chromium,
    pdf_first_page_dark_fraction,
    pdf_text,
    screenshot,
)
from calcinosis.web.app import create_app
from calcinosis.web.settings import Settings
from webserver import serving

SEED_EXPECTED = json.loads(EXPECTED.read_text(encoding="utf-8"))["dev-seed-palanivel-2026"]
NARROW = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(lambda url: create_app(Settings(public_url=url))) as url:
        yield url


@pytest.fixture(scope="module")
def seed_report(base_url: str) -> str:
    """The seed case's report, made once over HTTP for the tests that only look at a report."""
    files = {"bundle_file": ("seed.json", SEED_BUNDLE.read_bytes(), "application/json")}
    data = {"mode": "upload", "as_of": "2026-01-01"}
    response = httpx.post(base_url + "/assess", data=data, files=files, timeout=60)
    assert response.status_code == 303
    return str(response.headers["location"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def upload_seed(page: Page) -> None:
    page.goto("/")
    page.set_input_files("#upload-bundle-file", str(SEED_BUNDLE))
    page.fill("#upload-as-of", "2026-01-01")
    page.click("text=Assess uploaded Bundle")
    page.wait_for_url("**/report/*")


def answer(page: Page) -> tuple[str | None, str | None]:
    level = page.get_attribute("#suspicion-level", "data-level")
    kind = page.get_attribute("#calcinosis-type", "data-type")
    return level, kind


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


def test_an_uploaded_bundle_gives_the_expected_answer(page: Page) -> None:
    upload_seed(page)
    expected = (SEED_EXPECTED["dcc_in_acne_suspicion"], SEED_EXPECTED["calcinosis_type"])
    assert answer(page) == expected
    assert page.inner_text("#suspicion-level") == "High"
    assert page.inner_text("#calcinosis-type") == "Dystrophic calcinosis cutis"
    assert page.is_visible("text=Decision support, not a diagnosis.")
    screenshot(page, "report-upload")


def test_pasted_json_gives_the_expected_answer(page: Page) -> None:
    page.goto("/")
    page.fill("#paste-bundle-json", SEED_BUNDLE.read_text(encoding="utf-8"))
    page.fill("#paste-as-of", "2026-01-01")
    page.click("text=Assess pasted Bundle")
    page.wait_for_url("**/report/*")
    assert answer(page) == (
        SEED_EXPECTED["dcc_in_acne_suspicion"],
        SEED_EXPECTED["calcinosis_type"],
    )
    assert page.inner_text(".meta").count("Pasted FHIR Bundle") == 1
    screenshot(page, "report-paste")


def test_the_case_form_for_a_seed_like_case_raises_suspicion(page: Page) -> None:
    page.goto("/")
    page.fill("#case-age", "29")
    page.select_option("#case-sex", "female")
    page.fill("#case-as-of", "2026-01-01")
    page.select_option("#case-acne", "active")
    page.select_option("#case-acne-onset", "teens")
    page.select_option("#case-isotretinoin-response", "no response")
    page.select_option("#case-consistency", "hard")
    page.select_option("#case-colour", "skin-coloured")
    page.locator("#case-sites").get_by_label("Cheeks").check()
    page.locator("#case-stretching").get_by_label("Yes").check()
    page.locator("#case-chalky").get_by_label("Yes").check()
    screenshot(page, "home-filled")
    page.click("text=Assess this case")
    page.wait_for_url("**/report/*")
    level, _ = answer(page)
    assert level in ("high", "moderate")
    assert "Structured case form" in page.inner_text(".meta")
    screenshot(page, "report-form")


def test_a_bad_value_is_shown_on_the_form_and_the_values_are_kept(page: Page) -> None:
    page.goto("/")
    page.fill("#case-age", "29")
    page.fill("#case-lab-calcium-value", "abc")
    with page.expect_response(lambda r: r.url.endswith("/assess")) as response:
        page.click("text=Assess this case")
    assert response.value.status == 422
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    message = "Serum calcium (total): 'abc' is not a number (use digits, e.g. 2.5)"
    assert page.inner_text("#case-lab-calcium-value-error").endswith(message)
    assert page.input_value("#case-lab-calcium-value") == "abc"
    assert page.input_value("#case-age") == "29"
    assert page.get_attribute("#case-lab-calcium-value", "aria-invalid") == "true"
    summary.get_by_role("link").click()
    assert page.evaluate("location.hash") == "#case-lab-calcium-value"
    screenshot(page, "home-error")


def test_a_basis_opens_with_the_keyboard(page: Page, seed_report: str) -> None:
    page.goto(seed_report)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    for _ in range(60):  # tab forward until the first basis toggle has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    is_open = "document.activeElement.parentElement.open"
    assert page.evaluate(is_open) is False
    page.keyboard.press("Enter")
    assert page.evaluate(is_open) is True
    details = page.locator("details.basis").first
    assert "Sources" in details.inner_text()
    assert details.locator('a[href^="https://doi.org/"]').count() >= 1
    screenshot(page, "report-basis-open")
    page.keyboard.press("Enter")
    assert page.evaluate(is_open) is False


def test_the_skip_link_moves_focus_to_the_content(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    assert page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize("where", ["home", "report", "form-error", "not-found"])
def test_a_375_pixel_screen_needs_no_horizontal_scrolling(
    page: Page, seed_report: str, where: str
) -> None:
    page.set_viewport_size(NARROW)
    if where == "report":
        page.goto(seed_report)
        page.click("#toggle-bases")  # every basis open: long references and ids must wrap
    elif where == "form-error":
        page.goto("/")
        page.fill("#case-lab-pth-value", "not-a-number-at-all-and-very-long-without-spaces")
        page.click("text=Assess this case")
        page.wait_for_selector("#error-summary")
    elif where == "not-found":
        page.goto("/report/does-not-exist")
    else:
        page.goto("/")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= NARROW["width"]
    assert no_horizontal_scroll(page)
    screenshot(page, f"narrow-{where}")


def test_the_pdf_button_downloads_a_readable_pdf(page: Page, seed_report: str) -> None:
    page.goto(seed_report)
    with page.expect_download() as download_info:
        page.click("#download-pdf")
    download = download_info.value
    assert download.suggested_filename == "calcinosis-report-2026-01-01.pdf"
    path = artifacts_dir() / "report-download.pdf"
    download.save_as(path)
    assert path.read_bytes().startswith(b"%PDF-")
    assert 0.01 < pdf_first_page_dark_fraction(path) < 0.6  # text on the page, not a blank sheet
    text = pdf_text(path)
    assert "High" in text
    assert "Dystrophic calcinosis cutis" in text


@pytest.mark.parametrize("where", ["home", "report", "not-found"])
def test_pages_meet_the_basic_accessibility_checks(
    page: Page, seed_report: str, where: str
) -> None:
    if where == "report":
        page.goto(seed_report)
        page.click("#toggle-bases")
    elif where == "not-found":
        page.goto("/report/does-not-exist")
    else:
        page.goto("/")
    assert page.get_attribute("html", "lang") == "en"
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.evaluate(HEADING_PROBLEMS) == []
    assert page.evaluate(LOW_CONTRAST) == []
    assert page.locator("a.skip-link[href='#main']").count() == 1
    screenshot(page, f"page-{where}")


def test_everything_works_without_javascript(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        upload_seed(page)
        assert answer(page)[0] == SEED_EXPECTED["dcc_in_acne_suspicion"]
        assert page.locator("#toggle-bases").count() == 0  # the enhancement is absent
        page.locator("details.basis > summary").first.click()
        assert page.locator("details.basis").first.get_attribute("open") == ""
        screenshot(page, "report-no-js")
    finally:
        context.close()
