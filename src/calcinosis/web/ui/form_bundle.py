"""A checked case form -> a FHIR R4 collection Bundle shaped as fhir-profile.md describes.

Clinical codes come from the knowledge base's value sets, and only where a code says exactly what
the form says (a concept with one code in a system); everything else is sent as text, which the
engine reads through the same value sets' synonyms. Code-system URIs come from CodeSystem. Resource
ids are random, so a bundle built here carries nothing that identifies the patient.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import uuid
from typing import Any

from calcinosis.core.codes import CodeSystem
from calcinosis.core.knowledge import Knowledge
from calcinosis.web.ui.case_form import CaseForm, LabEntry, TreatmentEntry
from calcinosis.web.ui.form_spec import sentence

# FHIR's own structural codes (categories, statuses, interpretations), as in fhir-profile.md.
_LAB, _EXAM, _IMAGING = "laboratory", "exam", "imaging"
_CATEGORY_DISPLAY = {_LAB: "Laboratory", _EXAM: "Exam", _IMAGING: "Imaging"}
_INTERPRETATION = {"normal": ("N", "Normal"), "high": ("H", "High"), "low": ("L", "Low")}
_SURGICAL_PATHOLOGY = ("SP", "Surgical Pathology")
_PROBLEM_LIST = ("problem-list-item", "Problem List Item")
_CONFIRMED = "confirmed"

# Exam and histology Observations are recognised by their exact code.text (fhir-profile.md §6-7);
# every label used here must be one the knowledge base lists, which _exam_label checks.
MORPHOLOGY = "Skin lesion morphology"
DISTRIBUTION = "Skin lesion distribution (body sites)"
CONSISTENCY = "Skin lesion consistency on palpation"
COLOUR = "Skin lesion colour"
COUNT = "Number of skin lesions"
SIZE = "Skin lesion size"
DURATION = "Duration of skin lesions"
PAIN = "Pain or discomfort at skin lesions"
ULCERATION = "Ulceration of skin lesions"
STRETCHING = "Lesions more visible when the skin is stretched"
CHALKY = "Hard chalky or calcified material extracted or extruded from lesions"
EXTRACTION = "Findings on lesion extraction"
IMAGING = "Imaging findings"
ADDITIONAL = "Additional clinical findings"
HISTOLOGY_CALCIUM = "Calcium deposits identified on histology"
HISTOLOGY_BONE = "Bone (ossification with osteocytes) identified on histology"
STAINS = "Special stains"
HISTOLOGY_REPORT = "Skin histopathology report"
EXAM_LABELS = (
    MORPHOLOGY,
    DISTRIBUTION,
    CONSISTENCY,
    COLOUR,
    COUNT,
    SIZE,
    DURATION,
    PAIN,
    ULCERATION,
    STRETCHING,
    CHALKY,
    EXTRACTION,
    IMAGING,
    ADDITIONAL,
    HISTOLOGY_CALCIUM,
    HISTOLOGY_BONE,
    STAINS,
)
_ONSET_WORDS = {"childhood": "childhood", "teens": "the teens", "adulthood": "adulthood"}
_DAYS_PER_MONTH = 30.4375


def bundle_from_form(form: CaseForm, kb: Knowledge) -> dict[str, Any]:
    """The Bundle the engine assesses for this form; its timestamp is the assessment date."""
    missing = [label for label in EXAM_LABELS if label not in kb.exam_labels]
    if missing:
        raise LookupError(f"the knowledge base no longer lists exam labels {missing}")
    b = _Builder(form.as_of, kb)
    b.patient(form)
    b.history(form)
    for entry in form.treatments:
        b.treatment(entry)
    b.lesions(form)
    b.histology(form)
    for lab in form.labs:
        b.lab(lab)
    if form.note_text:
        b.note(form.note_text)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": f"{form.as_of.isoformat()}T00:00:00Z",
        "entry": b.entries,
    }


class _Builder:
    def __init__(self, as_of: dt.date, kb: Knowledge) -> None:
        self.as_of = as_of
        self.day = as_of.isoformat()
        self.kb = kb
        self.entries: list[dict[str, Any]] = []
        self.subject: dict[str, str] = {}

    def add(self, resource: dict[str, Any]) -> str:
        rid = str(uuid.uuid4())
        body = {"resourceType": resource.pop("resourceType"), "id": rid}
        if self.subject:
            body["subject"] = self.subject
        body.update(resource)
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": body})
        return f"urn:uuid:{rid}"

    # ------------------------------------------------------------------ patient and history
    def patient(self, form: CaseForm) -> None:
        patient: dict[str, Any] = {"resourceType": "Patient", "gender": form.sex}
        if form.age is not None:
            patient["birthDate"] = _months_before(self.as_of, form.age * 12).isoformat()
        self.subject = {"reference": self.add(patient)}

    def history(self, form: CaseForm) -> None:
        if form.acne:
            self.acne(form)
        for concept in (form.ctd, form.kidney, *form.history):
            if concept:
                self.condition(sentence(self.kb.concepts[concept].label), concept)
        if form.history_text:
            self.condition(form.history_text, None)
        if form.calcium_infusion:
            label = sentence(self.kb.concepts["calcium-infusion"].label)
            self.medication(label, "completed", "not-applicable", None, None)

    def acne(self, form: CaseForm) -> None:
        text = "Acne"
        if form.acne_onset:
            text += f" since {_ONSET_WORDS[form.acne_onset]}"
        if form.acne_years is not None:
            text += f", for {form.acne_years:g} years"
        onset: dict[str, str] = {}
        if form.acne_years is not None:
            start = _months_before(self.as_of, round(form.acne_years * 12))
            onset["onsetDateTime"] = start.isoformat()
        elif form.acne_onset:
            onset["onsetString"] = form.acne_onset
        status = "resolved" if form.acne == "resolved" else "active"
        self.condition(text, "acne", status, onset)

    def condition(
        self,
        text: str,
        concept: str | None,
        clinical: str = "active",
        onset: dict[str, str] | None = None,
    ) -> None:
        code: dict[str, Any] = {"text": text}
        codings = self.condition_codings(concept) if concept else []
        if codings:
            code = {"coding": codings, "text": text}
        self.add(
            {
                "resourceType": "Condition",
                "clinicalStatus": _status(CodeSystem.CONDITION_CLINICAL, clinical),
                "verificationStatus": _status(CodeSystem.CONDITION_VERIFICATION, _CONFIRMED),
                "category": [{"coding": [_coding(CodeSystem.CONDITION_CATEGORY, *_PROBLEM_LIST)]}],
                "code": code,
                **(onset or {}),
                "recordedDate": self.day,
            }
        )

    def condition_codings(self, concept: str) -> list[dict[str, str]]:
        out = []
        for key, system in (("icd10cm", CodeSystem.ICD10CM), ("snomed", CodeSystem.SNOMED)):
            code = self.only_code(key, concept)
            if code:
                out.append(_coding(system, code))
        return out

    def only_code(self, key: str, concept: str) -> str | None:
        """The concept's code in this system when it has exactly one that means only it."""
        found = [c for (k, c), ids in self.kb.codes.items() if k == key and ids == (concept,)]
        return found[0] if len(found) == 1 else None

    # ------------------------------------------------------------------ medications
    def treatment(self, entry: TreatmentEntry) -> None:
        t = entry.treatment
        code = self.only_code("rxnorm", t.concept) if t.coded else None
        period = None
        detail = ""
        if entry.months is not None:
            start = self.as_of - dt.timedelta(days=round(entry.months * _DAYS_PER_MONTH))
            period = {"start": start.isoformat(), "end": self.day}
            detail = (
                f" Course of {entry.months:g} months as entered on the case form; "
                "its dates are counted back from the assessment date."
            )
        status = "stopped" if entry.response == "no response" else "completed"
        self.medication(t.text, status, entry.response, code, period, detail)

    def medication(
        self,
        text: str,
        status: str,
        response: str,
        rxnorm: str | None,
        period: dict[str, str] | None,
        detail: str = "",
    ) -> None:
        concept: dict[str, Any] = {"text": text}
        if rxnorm:
            concept = {"coding": [_coding(CodeSystem.RXNORM, rxnorm)], "text": text}
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": status,
            "medicationCodeableConcept": concept,
            "dateAsserted": self.day,
            "note": [{"text": f"Treatment response: {response}.{detail}"}],
        }
        if period:
            resource["effectivePeriod"] = period
        self.add(resource)

    # ------------------------------------------------------------------ observations
    def observation(
        self, category: str, label: str, value: dict[str, Any], site: str | None = None
    ) -> str:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [_category(category)],
            "code": {"text": label},
            "effectiveDateTime": self.day,
            **value,
        }
        if site:
            resource["bodySite"] = {"text": site}
        return self.add(resource)

    def lesions(self, form: CaseForm) -> None:
        site = ", ".join(form.sites) or None

        def exam(label: str, value: dict[str, Any]) -> None:
            self.observation(_EXAM, label, value, site)

        if form.morphology:
            exam(MORPHOLOGY, {"valueString": form.morphology})
        if site:
            exam(DISTRIBUTION, {"valueString": site})
        if form.consistency:
            exam(CONSISTENCY, {"valueCodeableConcept": {"text": form.consistency}})
        if form.colour:
            exam(COLOUR, {"valueString": form.colour})
        if form.count is not None:
            exam(COUNT, {"valueInteger": form.count})
        if form.size_mm is not None:
            exam(SIZE, {"valueQuantity": _quantity(form.size_mm, "mm")})
        if form.duration is not None:
            exam(DURATION, {"valueQuantity": _quantity(*form.duration)})
        for label, answer in (
            (PAIN, form.pain),
            (ULCERATION, form.ulceration),
            (STRETCHING, form.stretching),
            (CHALKY, form.chalky),
        ):
            if answer:
                exam(label, {"valueBoolean": answer == "yes"})
        if form.extraction_text:
            exam(EXTRACTION, {"valueString": form.extraction_text})
        if form.imaging_text:
            self.observation(_IMAGING, IMAGING, {"valueString": form.imaging_text}, site)
        extra = [form.findings_text] if form.findings_text else []
        if form.comedonal_opening:
            opening = "a visible comedonal opening" if form.comedonal_opening == "yes" else None
            extra.append(opening or "no comedonal opening")
        if extra:
            self.observation(_EXAM, ADDITIONAL, {"valueString": "; ".join(extra)})

    def histology(self, form: CaseForm) -> None:
        answers = (form.histology_calcium, form.histology_bone, form.von_kossa)
        if not any(answers) and not form.histology_text:
            return
        results = []
        for label, answer in ((HISTOLOGY_CALCIUM, answers[0]), (HISTOLOGY_BONE, answers[1])):
            if answer:
                ref = self.observation(_LAB, label, {"valueBoolean": answer == "yes"})
                results.append({"reference": ref})
        if form.von_kossa:
            ref = self.observation(_LAB, STAINS, {"valueString": f"von Kossa: {form.von_kossa}"})
            results.append({"reference": ref})
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "category": [
                {"coding": [_coding(CodeSystem.DIAGNOSTIC_SERVICE, *_SURGICAL_PATHOLOGY)]}
            ],
            "code": {"text": HISTOLOGY_REPORT},
            "effectiveDateTime": self.day,
            "issued": f"{self.day}T00:00:00Z",
            "conclusion": f"Specimen: skin lesion. {form.histology_text}".strip(),
        }
        if results:
            report["result"] = results
        self.add(report)

    def note(self, text: str) -> None:
        """A pasted clinic note, sent as a DocumentReference the way an EHR sends one."""
        self.add(
            {
                "resourceType": "DocumentReference",
                "status": "current",
                "description": "Clinic note pasted into the case form",
                "date": f"{self.day}T00:00:00Z",
                "content": [{"attachment": _note_attachment(text)}],
            }
        )

    def lab(self, lab: LabEntry) -> None:
        analyte = self.kb.analytes[lab.analyte]
        code: dict[str, Any] = {"text": lab.label}
        # The first LOINC code the knowledge lists is the one for its canonical unit; a result in
        # a unit of another kind (mmol/L for a mass code) goes as text rather than miscoded.
        if analyte.loinc and analyte.unit and self.kb.units.is_convertible(lab.unit, analyte.unit):
            code = {"coding": [_coding(CodeSystem.LOINC, analyte.loinc[0])], "text": lab.label}
        value: dict[str, Any] = {}
        if lab.value is not None:
            value["valueQuantity"] = _quantity(lab.value, lab.unit)
        if lab.flag:
            value["interpretation"] = [
                {"coding": [_coding(CodeSystem.INTERPRETATION, *_INTERPRETATION[lab.flag])]}
            ]
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [_category(_LAB)],
            "code": code,
            "effectiveDateTime": self.day,
            **value,
        }
        self.add(resource)


def _note_attachment(text: str) -> dict[str, Any]:
    return {
        "contentType": "text/plain; charset=utf-8",
        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
    }


def _coding(system: CodeSystem, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system.value, "code": code}
    if display:
        out["display"] = display
    return out


def _status(system: CodeSystem, code: str) -> dict[str, Any]:
    return {"coding": [_coding(system, code)]}


def _category(code: str) -> dict[str, Any]:
    return {"coding": [_coding(CodeSystem.OBSERVATION_CATEGORY, code, _CATEGORY_DISPLAY[code])]}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    number: float | int = int(value) if float(value).is_integer() else value
    return {"value": number, "unit": unit, "system": CodeSystem.UCUM.value, "code": unit}


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day of the month `months` earlier, clamped (29 Feb -> 28 Feb)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))
