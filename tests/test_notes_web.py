"""The web UI's "paste a clinic note" field: the note becomes a DocumentReference in the Bundle
the case form builds, feeds the same engine, and the report highlights each quoted sentence."""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import calcinosis
from calcinosis.core.assessment import Finding
from calcinosis.web.app import create_app
from calcinosis.web.settings import Settings
from calcinosis.web.ui.case_form import FormInvalid, read_case_form
from calcinosis.web.ui.form_bundle import bundle_from_form
from calcinosis.web.ui.form_spec import FormSpec
from calcinosis.web.ui.view import _finding
from webserver import serving

KB = calcinosis.load_knowledge()
SPEC = FormSpec.from_knowledge(KB)
AS_OF = dt.date(2026, 1, 1)
NOTE = (
    Path(__file__).resolve().parent / "data" / "notes" / "twin-dev-seed-palanivel-2026.txt"
).read_text(encoding="utf-8")
FIELDS = {"as_of": "2026-01-01", "age": "29", "sex": "female", "note_text": NOTE}


def test_a_pasted_note_becomes_a_document_reference_read_by_the_engine() -> None:
    form = read_case_form({k: [v] for k, v in FIELDS.items()}, SPEC, today=AS_OF)
    assert form.note_text == NOTE.strip()  # lines kept
    bundle = bundle_from_form(form, KB)
    docs = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    assert len(docs) == 1
    data = docs[0]["content"][0]["attachment"]["data"]
    assert base64.b64decode(data).decode() == NOTE.strip()
    result = calcinosis.assess_bundle(bundle, as_of=AS_OF).to_dict()
    assert result["dcc_suspicion"]["level"] == "high"
    assert result["calcinosis"]["type"] == "dystrophic"
    refs = [f["reference"] for f in result["dcc_suspicion"]["basis"]["findings"]]
    assert any(r.startswith(f"DocumentReference/{docs[0]['id']}#") for r in refs)


def test_a_note_over_the_limit_is_named() -> None:
    with pytest.raises(FormInvalid) as caught:
        read_case_form({"note_text": ["x" * 20001]}, SPEC, today=AS_OF)
    assert "note_text" in caught.value.errors


def test_a_note_finding_shows_its_sentence_and_span() -> None:
    view = _finding(Finding("DocumentReference/abc#10-18", 'Note: "No pain."'))
    assert view.quote == "No pain."
    assert view.span == "characters 10-18"
    plain = _finding(Finding("Observation/abc", "Calcium 9.4 mg/dL"))
    assert plain.quote == ""


def test_a_report_attachment_finding_names_the_attachment() -> None:
    second = _finding(Finding("DiagnosticReport/r1#1:0-31", 'Note: "Calcium deposits in dermis."'))
    assert second.quote == "Calcium deposits in dermis."
    assert second.span == "attachment 2, characters 0-31"
    first = _finding(Finding("DiagnosticReport/r1#4-9", 'Note: "Bone."'))
    assert first.span == "characters 4-9"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    build = lambda url: create_app(Settings(public_url=url))  # noqa: E731
    with serving(build) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        yield http


def test_the_report_highlights_the_quoted_sentences(client: httpx.Client) -> None:
    home = client.get("/", headers={"Accept": "text/html"})
    assert 'name="note_text"' in home.text and "Paste a clinic note" in home.text
    fields = {"mode": "case", **FIELDS}
    response = client.post(
        "/assess", files={k: (None, v) for k, v in fields.items()}, follow_redirects=True
    )
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert '<mark class="note-quote">“No pain.”</mark>' in page
    assert "characters " in page
