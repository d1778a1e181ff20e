"""Notes that arrive as DiagnosticReport.presentedForm, and resources with several attachments:
every note-based basis finding points at `<Type>/<id>#[<k>:]<start>-<end>` (k = the
attachment's position, left out for the first) and quotes the sentence found there."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import calcinosis
from builder import Bundle
from calcinosis.core.knowledge import load_knowledge
from calcinosis.fhir.ingest import case_from_bundle

KB = load_knowledge()
AS_OF = dt.date(2026, 1, 1)
REF = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>[^#]+)#(?:(?P<k>\d+):)?(?P<start>\d+)-(?P<end>\d+)$")
SP = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "SP"}]}
RAD = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}

PATHOLOGY = (
    "Specimen: punch biopsy, left cheek.\n"
    "Amorphous basophilic deposits in the dermis, von Kossa positive. No bone.\n"
)


def attachment(text: str, content_type: str = "text/plain") -> dict[str, Any]:
    return {"contentType": content_type, "data": base64.b64encode(text.encode()).decode()}


def report(bundle: Bundle, *attachments: dict[str, Any], category: Any = SP) -> None:
    bundle.add(
        {
            "resourceType": "DiagnosticReport",
            "id": "rep1",
            "status": "final",
            "category": [category],
            "code": {"text": "Skin histopathology report"},
            "effectiveDateTime": "2025-12-01",
            "presentedForm": list(attachments),
        }
    )


def document(bundle: Bundle, *attachments: dict[str, Any]) -> None:
    bundle.add(
        {
            "resourceType": "DocumentReference",
            "id": "doc1",
            "status": "current",
            "content": [{"attachment": a} for a in attachments],
        }
    )


def acne_case() -> Bundle:
    b = Bundle()
    b.condition("Acne vulgaris since her teens", icd="L70.0")
    b.normal_labs()
    return b


def note_findings(result: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for key in ("dcc_suspicion", "calcinosis"):
        out += result[key]["basis"]["findings"]
    for key in ("differential", "calculations", "workup", "management", "follow_up", "warnings"):
        for statement in result[key]:
            out += statement["basis"]["findings"]
    return [f for f in out if "#" in f["reference"]]


def quoted(finding: dict[str, str]) -> str:
    return finding["summary"].removeprefix('Note: "').removesuffix('"')


def fact_refs(bundle: Bundle, concept: str) -> list[str]:
    case = case_from_bundle(bundle.build(), KB)
    return [f.finding.reference for f in case.facts if f.concept == concept and f.present]


def test_a_pathology_report_text_is_read_as_histology_with_its_sentence() -> None:
    b = acne_case()
    report(b, attachment(PATHOLOGY))
    result = calcinosis.assess_bundle(b.build(), as_of=AS_OF).to_dict()
    found = note_findings(result)
    assert found, "the report's sentences are cited"
    for f in found:
        match = REF.match(f["reference"])
        assert match and match["type"] == "DiagnosticReport" and match["id"] == "rep1"
        assert match["k"] is None
        sentence = PATHOLOGY[int(match["start"]) : int(match["end"])]
        assert sentence == quoted(f)
    sentences = {quoted(f) for f in found}
    assert "Amorphous basophilic deposits in the dermis, von Kossa positive." in sentences
    case = case_from_bundle(b.build(), KB)
    present = {f.concept for f in case.facts if f.present}
    assert {"histology-calcium", "histology:done"} <= present
    assert "histology-bone" not in present


def test_an_html_report_keeps_its_offsets_in_the_markup() -> None:
    markup = "<p><b>Dermal</b> calcium deposits.</p><p>No bone seen.</p>"
    b = Bundle()
    report(b, attachment(markup, "text/html"))
    refs = fact_refs(b, "histology-calcium")
    assert refs
    match = REF.match(refs[0])
    assert (
        match and markup[int(match["start"]) : int(match["end"])] == "Dermal</b> calcium deposits."
    )
    case = case_from_bundle(b.build(), KB)
    absent = [f for f in case.facts if f.concept == "histology-bone" and not f.present]
    start = markup.index("No bone")
    assert absent
    assert absent[0].finding.reference == f"DiagnosticReport/rep1#{start}-{start + 13}"
    assert absent[0].finding.summary == 'Note: "No bone seen."'


def test_an_imaging_report_text_is_read_as_imaging() -> None:
    b = Bundle()
    report(
        b,
        attachment("Ultrasound of the cheeks: echogenic foci with acoustic shadow in the dermis."),
        category=RAD,
    )
    assert fact_refs(b, "imaging-calcification")
    assert not fact_refs(b, "histology-calcium")


def test_each_attachment_of_a_document_has_its_own_spans() -> None:
    first = "Hard papules on both cheeks for 3 years.\nNo pain.\n"
    second = "Extraction today: chalky white material came out of two papules.\n"
    b = acne_case()
    document(
        b,
        attachment(first),
        {"contentType": "application/pdf", "url": "https://example.org/letter.pdf"},
        attachment(second),
        attachment(f"<p>{first}</p>", "text/html"),  # a rendition of the first: read once
    )
    case = case_from_bundle(b.build(), KB)
    refs = {f.concept: f.finding.reference for f in case.facts}
    hard = REF.match(refs["consistency-hard"])
    chalky = REF.match(refs["chalky-material"])
    assert hard and hard["k"] is None
    assert (
        first[int(hard["start"]) : int(hard["end"])] == "Hard papules on both cheeks for 3 years."
    )
    assert chalky and chalky["k"] == "2"
    assert second[int(chalky["start"]) : int(chalky["end"])] == second.strip()
    assert [f.concept for f in case.facts].count("consistency-hard") == 1
    assert case.lesions.duration_days == 3 * 365.25
    result = calcinosis.assess_bundle(b.build(), as_of=AS_OF).to_dict()
    cited = {f["reference"] for f in note_findings(result)}
    assert refs["chalky-material"] in cited
    assert all(r.startswith("DocumentReference/doc1#") for r in cited)


def test_each_attachment_of_a_report_has_its_own_spans() -> None:
    b = Bundle()
    report(
        b,
        {"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4").decode()},
        attachment(PATHOLOGY),
    )
    refs = fact_refs(b, "histology-calcium")
    note_refs = [r for r in refs if "#" in r]
    assert note_refs
    match = REF.match(note_refs[0])
    assert match and match["type"] == "DiagnosticReport" and match["k"] == "1"
    sentence = PATHOLOGY[int(match["start"]) : int(match["end"])]
    assert sentence == "Amorphous basophilic deposits in the dermis, von Kossa positive."


def test_unreadable_attachments_are_skipped_not_refused() -> None:
    b = Bundle()
    report(
        b,
        {"contentType": "text/plain", "data": "%%% not base64 %%%"},
        {"contentType": "text/plain", "url": "https://example.org/report.txt"},
        {"contentType": "text/plain", "data": base64.b64encode(b"\xff\xfe").decode()},
    )
    case = case_from_bundle(b.build(), KB)
    assert not [f for f in case.facts if "#" in f.finding.reference]
    assert any(f.concept == "histology:done" for f in case.facts)
