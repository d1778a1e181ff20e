"""Note-only twins of the development vignettes: the coded exam, medications, histology,
imaging and procedures are stripped and a clinic note written from the same facts is added."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from calcinosis.core.knowledge import load_knowledge

SHARED = Path(__file__).resolve().parents[2] / "shared" / "dev-vignettes"
NOTES = Path(__file__).resolve().parent / "data" / "notes"
STRIPPED = {
    "MedicationStatement",
    "MedicationRequest",
    "MedicationAdministration",
    "DiagnosticReport",
    "Procedure",
}


def original(vid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (SHARED / "bundles" / f"{vid}.json").read_text(encoding="utf-8")
    )
    return data


def note_only_twin(vid: str, note: str | None = None) -> dict[str, Any]:
    """Patient, Conditions and labs of the vignette, plus its clinic note."""
    exam_labels = load_knowledge().exam_labels
    bundle = copy.deepcopy(original(vid))
    kept = []
    patient_ref = ""
    for entry in bundle["entry"]:
        res = entry["resource"]
        kind = res["resourceType"]
        if kind == "Patient":
            patient_ref = entry.get("fullUrl") or f"Patient/{res['id']}"
        if kind in STRIPPED:
            continue
        if kind == "Observation":
            cats = {c.get("code") for cat in res.get("category", []) for c in cat.get("coding", [])}
            if cats & {"exam", "imaging"} or res.get("code", {}).get("text") in exam_labels:
                continue
        kept.append(entry)
    text = note if note is not None else (NOTES / f"twin-{vid}.txt").read_text(encoding="utf-8")
    doc_id = f"note-{vid}"
    kept.append(
        {
            "fullUrl": f"urn:uuid:{doc_id}",
            "resource": {
                "resourceType": "DocumentReference",
                "id": doc_id,
                "status": "current",
                "subject": {"reference": patient_ref},
                "date": "2026-01-01T00:00:00Z",
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain",
                            "data": base64.b64encode(text.encode()).decode(),
                        }
                    }
                ],
            },
        }
    )
    bundle["entry"] = kept
    return bundle
