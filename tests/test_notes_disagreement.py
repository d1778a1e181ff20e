"""A laboratory value written in a clinic note against the coded result of the same analyte:
the coded result is used, and when the two disagree (same date, or an undated note) the
assessment says so in the note-disagreement warning, worded by the knowledge data."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import calcinosis
from builder import Bundle
from calcinosis.core.knowledge import load_knowledge
from calcinosis.errors import KnowledgeError
from calcinosis.fhir.ingest import case_from_bundle

KB = load_knowledge()
KNOWLEDGE = Path(calcinosis.__file__).resolve().parent / "knowledge"
AS_OF = dt.date(2026, 1, 1)
WARNING = "warning.note-disagrees"


def with_note(bundle: Bundle, text: str, date: str | None = None) -> Bundle:
    data = base64.b64encode(text.encode()).decode()
    doc: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": "note1",
        "status": "current",
        "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
    }
    if date:
        doc["date"] = date
    bundle.add(doc)
    return bundle


def coded_calcium(value: float = 2.35, when: str = "2025-12-20") -> Bundle:
    b = Bundle()
    b.lab("2000-8", "Calcium", value, "mmol/L", when=when)
    return b


def warnings(bundle: Bundle, **kwargs: Any) -> list[dict[str, Any]]:
    result = calcinosis.assess_bundle(bundle.build(), as_of=AS_OF, **kwargs).to_dict()
    return [w for w in result["warnings"] if w["id"] == WARNING]


def test_an_undated_note_value_that_differs_is_flagged_and_the_coded_value_used() -> None:
    b = with_note(coded_calcium(), "Bloods: Ca 2.9 mmol/L, rest unremarkable.\n")
    result = calcinosis.assess_bundle(b.build(), as_of=AS_OF).to_dict()
    found = [w for w in result["warnings"] if w["id"] == WARNING]
    assert len(found) == 1
    summary = found[0]["summary"]
    assert "serum calcium (total) as 2.9 mmol/L" in summary
    assert "the laboratory record as 2.35 mmol/L on 2025-12-20" in summary
    assert summary.endswith("the laboratory result was used")
    refs = [f["reference"] for f in found[0]["basis"]["findings"]]
    assert refs[0] == "DocumentReference/note1#8-41"  # after the "Bloods:" header
    assert found[0]["basis"]["findings"][0]["summary"] == (
        'Note: "Ca 2.9 mmol/L, rest unremarkable."'
    )
    assert refs[1:] == ["Observation/r2"]
    assert found[0]["basis"]["rules"] == [WARNING]
    cited = set(found[0]["basis"]["citations"])
    assert cited and cited <= {c["id"] for c in result["citations"]}
    case = case_from_bundle(b.build(), KB)
    calcium = [lab for lab in case.labs if lab.analyte == "calcium"]
    assert [lab.finding.reference for lab in calcium] == ["Observation/r2"]
    assert calcium[0].value == pytest.approx(2.35 * 40.078 / 10, rel=1e-3)


def test_a_note_of_the_same_date_is_compared_and_one_of_another_date_is_not() -> None:
    same = with_note(coded_calcium(), "Ca 2.9 mmol/L.", date="2025-12-20T10:00:00Z")
    assert len(warnings(same)) == 1
    other = with_note(coded_calcium(), "Ca 2.9 mmol/L.", date="2024-06-01")
    assert warnings(other) == []
    labs = [lab for lab in case_from_bundle(other.build(), KB).labs if lab.analyte == "calcium"]
    assert [lab.finding.reference for lab in labs] == ["Observation/r2"]


def test_the_same_value_in_other_units_is_no_disagreement() -> None:
    assert warnings(with_note(coded_calcium(), "Calcium 9.4 mg/dL.")) == []
    assert warnings(with_note(coded_calcium(), "Ca 2.35 mmol/L.")) == []
    assert len(warnings(with_note(coded_calcium(), "Ca 2.41 mmol/L."))) == 1


def test_an_undated_note_is_compared_with_the_latest_coded_result() -> None:
    b = coded_calcium(2.9, when="2024-01-10")
    b.lab("2000-8", "Calcium", 2.35, "mmol/L", when="2025-12-20")
    assert warnings(with_note(b, "Ca 2.35 mmol/L.")) == []
    b = coded_calcium(2.9, when="2024-01-10")
    b.lab("2000-8", "Calcium", 2.35, "mmol/L", when="2025-12-20")
    assert len(warnings(with_note(b, "Ca 2.9 mmol/L."))) == 1


def test_a_flag_in_a_note_against_the_laboratory_flag() -> None:
    def pth(text: str) -> Bundle:
        b = Bundle()
        b.lab("14866-8", "PTH", 88, "pmol/L", flag="H")
        return with_note(b, text)

    found = warnings(pth("PTH normal."))
    assert len(found) == 1
    assert "as normal, the laboratory record as high" in found[0]["summary"]
    assert warnings(pth("PTH raised.")) == []


def test_other_analytes_and_unitless_values_are_not_compared() -> None:
    assert (
        warnings(with_note(coded_calcium(), "Phosphate 2.1 mmol/L. Corrected Ca 2.9 mmol/L.")) == []
    )
    assert warnings(with_note(coded_calcium(), "Ca 2.9.")) == []


def test_the_wording_is_knowledge_data(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, kb_dir)
    path = kb_dir / "rules" / "warnings.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule = next(item for item in data["items"] if item["id"] == WARNING)
    rule["details"]["lab"] = "note {note} vs lab {coded}"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    found = warnings(with_note(coded_calcium(), "Ca 2.9 mmol/L."), knowledge=load_knowledge(kb_dir))
    assert found[0]["summary"].endswith(": note 2.9 mmol/L vs lab 2.35 mmol/L")
    bad_dir = tmp_path / "bad"
    shutil.copytree(kb_dir, bad_dir)
    rule["details"]["lab"] = "note {note} vs lab {coded} at {laboratory}"
    path = bad_dir / "rules" / "warnings.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="unknown fields"):
        load_knowledge(bad_dir)
