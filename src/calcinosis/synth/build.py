"""FHIR R4 resources of one synthetic patient, shaped as docs/fhir-profile.md describes.

Builders take already-drawn values (plain dicts from profiles.yaml) and add resources to a
`Record`; every resource but the Patient names its patient as `Patient/<id>`.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from calcinosis.core.codes import CodeSystem
from calcinosis.synth.ids import IdMaker

Json = dict[str, Any]

# The one spelling of each code-system URI is calcinosis.core.codes.
ICD10CM = CodeSystem.ICD10CM.value
SNOMED = CodeSystem.SNOMED.value
LOINC = CodeSystem.LOINC.value
UCUM = CodeSystem.UCUM.value
RXNORM = CodeSystem.RXNORM.value
OBS_CATEGORY = CodeSystem.OBSERVATION_CATEGORY.value
INTERPRETATION = CodeSystem.INTERPRETATION.value
COND_CLINICAL = CodeSystem.CONDITION_CLINICAL.value
COND_VERIFICATION = CodeSystem.CONDITION_VERIFICATION.value
COND_CATEGORY = CodeSystem.CONDITION_CATEGORY.value
DIAG_SERVICE = CodeSystem.DIAGNOSTIC_SERVICE.value


def _category(system: str, code: str, display: str) -> list[Json]:
    return [{"coding": [{"system": system, "code": code, "display": display}]}]


_CATEGORY = {
    "laboratory": _category(OBS_CATEGORY, "laboratory", "Laboratory"),
    "exam": _category(OBS_CATEGORY, "exam", "Exam"),
    "imaging": _category(OBS_CATEGORY, "imaging", "Imaging"),
}
_PATHOLOGY = _category(DIAG_SERVICE, "SP", "Surgical Pathology")
_RADIOLOGY = _category(DIAG_SERVICE, "RAD", "Radiology")
_PROBLEM_LIST = _category(COND_CATEGORY, "problem-list-item", "Problem List Item")
_FLAGS = {"N": "Normal", "H": "High", "L": "Low", "POS": "Positive", "NEG": "Negative"}
_DURATION_UNITS = {"years": "a", "months": "mo", "weeks": "wk", "days": "d"}
_BOOLEAN_FINDINGS = (
    ("pain", "Pain or discomfort at skin lesions"),
    ("tenderness", "Tenderness of skin lesions"),
    ("pruritus", "Pruritus at skin lesions"),
    ("ulceration", "Ulceration of skin lesions"),
    ("visible_on_stretching", "Lesions more visible when the skin is stretched"),
    ("chalky", "Hard chalky or calcified material extracted or extruded from lesions"),
)


def quantity(value: float | int, unit: str, display: str | None = None) -> Json:
    """A UCUM Quantity; `display` is the human spelling when it differs from the code."""
    return {"value": value, "unit": display or unit, "system": UCUM, "code": unit}


def flag(code: str) -> list[Json]:
    """An interpretation flag (v3 ObservationInterpretation)."""
    return [{"coding": [{"system": INTERPRETATION, "code": code, "display": _FLAGS[code]}]}]


class Record:
    """The resources of one patient, in the order they were made."""

    def __init__(self, ids: IdMaker, index: int, as_of: dt.date) -> None:
        self.as_of = as_of
        self._ids = ids.patient(index)
        self.patient_id = self._ids(0)
        self.subject = {"reference": f"Patient/{self.patient_id}"}
        self.resources: list[Json] = []
        self._serial = 0

    def day(self, days_ago: int) -> str:
        """The date `days_ago` days before the as-of date (never after it)."""
        return (self.as_of - dt.timedelta(days=max(0, int(days_ago)))).isoformat()

    def add(self, rtype: str, body: Json, *, subject_key: str = "subject") -> str:
        """Add a resource; returns its `Type/id` reference."""
        self._serial += 1
        rid = self._ids(self._serial)
        resource: Json = {"resourceType": rtype, "id": rid}
        for key in ("status", "intent"):  # FHIR JSON habitually leads with these
            if key in body:
                resource[key] = body.pop(key)
        if rtype != "Patient":
            resource[subject_key] = self.subject
        resource.update(body)
        self.resources.append(resource)
        return f"{rtype}/{rid}"

    def patient(self, gender: str, birth: dt.date | None) -> None:
        """The Patient resource, always first; no birthDate when the age is not recorded."""
        resource: Json = {"resourceType": "Patient", "id": self.patient_id, "gender": gender}
        if birth is not None:
            resource["birthDate"] = birth.isoformat()
        self.resources.insert(0, resource)

    def condition(self, c: Mapping[str, Any], icd_display: Mapping[str, str]) -> None:
        """A problem-list Condition (fhir-profile §3)."""
        codings: list[Json] = []
        if "icd10cm" in c:
            code = c["icd10cm"]
            codings.append({"system": ICD10CM, "code": code, "display": icd_display[code]})
        if "snomed" in c:
            codings.append({"system": SNOMED, "code": c["snomed"]})
        code_json: Json = {"coding": codings, "text": c["text"]} if codings else {"text": c["text"]}
        body: Json = {
            "clinicalStatus": {
                "coding": [{"system": COND_CLINICAL, "code": c.get("status", "active")}]
            },
            "verificationStatus": {"coding": [{"system": COND_VERIFICATION, "code": "confirmed"}]},
            "category": _PROBLEM_LIST,
            "code": code_json,
        }
        if "onset_date" in c:
            body["onsetDateTime"] = c["onset_date"]
        elif "onset_text" in c:
            body["onsetString"] = c["onset_text"]
        body["recordedDate"] = c["recorded"]
        self.add("Condition", body)

    def medication(self, m: Mapping[str, Any], rx_display: Mapping[str, str]) -> None:
        """A MedicationStatement with its response note, or a MedicationRequest (§4)."""
        concept: Json = {"text": m["text"]}
        if "rxnorm" in m:
            code = m["rxnorm"]
            coding = {"system": RXNORM, "code": code, "display": rx_display[code]}
            concept = {"coding": [coding], "text": m["text"]}
        if m.get("kind") == "request":
            request: Json = {"status": m["status"], "intent": "order"}
            request["medicationCodeableConcept"] = concept
            request["authoredOn"] = m["start"]
            request["dosageInstruction"] = [{"text": m.get("dosage", "As directed")}]
            if "end" in m:
                period = {"start": m["start"], "end": m["end"]}
                request["dispenseRequest"] = {"validityPeriod": period}
            self.add("MedicationRequest", request)
            return
        body: Json = {"status": m["status"], "medicationCodeableConcept": concept}
        if "start" in m:
            period = {"start": m["start"]}
            if "end" in m:
                period["end"] = m["end"]
            body["effectivePeriod"] = period
        body["dateAsserted"] = self.as_of.isoformat()
        if "status_reason" in m:
            body["statusReason"] = [{"text": m["status_reason"]}]
        if "reason" in m:
            body["reasonCode"] = [{"text": m["reason"]}]
        note = f"Treatment response: {m.get('response', 'unknown')}."
        if "response_note" in m:
            note += f" {str(m['response_note']).rstrip('.')}."
        if "period_text" in m:
            note += f" When taken: {str(m['period_text']).rstrip('.')}."
        body["note"] = [{"text": note}]
        self.add("MedicationStatement", body, subject_key="subject")

    def observation(
        self, category: str, code: str | Json, when: str, value: Json, **extra: Any
    ) -> str:
        """An Observation; `code` is a CodeableConcept, or text for `code.text` only."""
        concept = {"text": code} if isinstance(code, str) else code
        body: Json = {"status": "final", "category": _CATEGORY[category], "code": concept}
        body["effectiveDateTime"] = when
        body.update(value)
        for key, item in extra.items():
            if item is not None:
                body[key] = item
        return self.add("Observation", body)

    def exam(self, e: Mapping[str, Any]) -> None:
        """The structured examination rows of fhir-profile §6."""
        when = self.as_of.isoformat()
        sites = ", ".join(e.get("sites") or []) or None
        site = {"bodySite": {"text": sites}} if sites else {}

        def row(text: str, value: Json, category: str = "exam") -> None:
            self.observation(category, text, when, value, **site)

        if "morphology" in e:
            row("Skin lesion morphology", {"valueString": e["morphology"]})
        if sites:
            row("Skin lesion distribution (body sites)", {"valueString": sites})
        if "consistency" in e:
            consistency = {"valueCodeableConcept": {"text": e["consistency"]}}
            row("Skin lesion consistency on palpation", consistency)
        if "colour" in e:
            row("Skin lesion colour", {"valueString": e["colour"]})
        if "count" in e:
            count = e["count"]
            key = "valueInteger" if isinstance(count, int) else "valueString"
            row("Number of skin lesions", {key: count})
        if "size_mm" in e:
            size = e["size_mm"]
            if isinstance(size, list):
                low, high = quantity(size[0], "mm"), quantity(size[1], "mm")
                row("Skin lesion size", {"valueRange": {"low": low, "high": high}})
            else:
                row("Skin lesion size", {"valueQuantity": quantity(size, "mm")})
        duration = e.get("duration")
        if isinstance(duration, Mapping):
            ((unit_key, amount),) = duration.items()
            length = quantity(amount, _DURATION_UNITS[unit_key])
            row("Duration of skin lesions", {"valueQuantity": length})
        elif isinstance(duration, str):
            row("Duration of skin lesions", {"valueString": duration})
        for key, text in _BOOLEAN_FINDINGS:
            if key in e:
                row(text, {"valueBoolean": bool(e[key])})
        if "extraction" in e:
            row("Findings on lesion extraction", {"valueString": e["extraction"]})
        if "imaging" in e:
            row("Imaging findings", {"valueString": e["imaging"]}, "imaging")
        if e.get("other"):
            self.observation(
                "exam", "Additional clinical findings", when, {"valueString": "; ".join(e["other"])}
            )

    def histology(self, h: Mapping[str, Any]) -> None:
        """A surgical-pathology DiagnosticReport with its result Observations (§7)."""
        when = self.day(h.get("days_ago", 0))
        results: list[Json] = []
        for key, text in (
            ("calcium_deposits", "Calcium deposits identified on histology"),
            ("bone", "Bone (ossification with osteocytes) identified on histology"),
        ):
            if key in h:
                ref = self.observation("laboratory", text, when, {"valueBoolean": bool(h[key])})
                results.append({"reference": ref})
        if h.get("stains"):
            stains = {"valueString": ", ".join(h["stains"])}
            ref = self.observation("laboratory", "Special stains", when, stains)
            results.append({"reference": ref})
        report: Json = {
            "status": "final",
            "category": _PATHOLOGY,
            "code": {"text": "Skin histopathology report"},
            "effectiveDateTime": when,
            "issued": f"{when}T00:00:00Z",
            "conclusion": f"Specimen: {h['specimen']}. {h['text']}",
        }
        if results:
            report["result"] = results
        self.add("DiagnosticReport", report)

    def imaging(self, i: Mapping[str, Any]) -> None:
        """An imaging DiagnosticReport (v2-0074 RAD) read by its conclusion (§9)."""
        when = self.day(i.get("days_ago", 0))
        report: Json = {
            "status": "final",
            "category": _RADIOLOGY,
            "code": {"text": i["title"]},
            "effectiveDateTime": when,
            "issued": f"{when}T00:00:00Z",
            "conclusion": i["conclusion"],
        }
        self.add("DiagnosticReport", report)

    def procedure(self, p: Mapping[str, Any]) -> None:
        """A completed Procedure (extraction, biopsy) with its note (§9)."""
        body: Json = {"status": "completed", "code": {"text": p["text"]}}
        body["performedDateTime"] = self.day(p.get("days_ago", 0))
        if p.get("sites"):
            body["bodySite"] = [{"text": site} for site in p["sites"]]
        if "outcome" in p:
            body["outcome"] = {"text": p["outcome"]}
        if "note" in p:
            body["note"] = [{"text": p["note"]}]
        self.add("Procedure", body)

    def note(self, title: str, text: str, days_ago: int) -> None:
        """A clinic note: DocumentReference with an inline text/plain attachment (§9)."""
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        body: Json = {
            "status": "current",
            "docStatus": "final",
            "type": {"text": title},
            "date": f"{self.day(days_ago)}T09:00:00Z",
            "content": [{"attachment": {"contentType": "text/plain", "data": data}}],
        }
        self.add("DocumentReference", body)
