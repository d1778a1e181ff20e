"""Shell: a FHIR R4 Bundle (any type) about one patient -> a typed Case.

Reads Patient, Condition, MedicationStatement/Request/Administration, Observation (labs, exam,
imaging, histology results), DiagnosticReport, Procedure and text/plain DocumentReference notes.
Unknown content is ignored; malformed content that we must read is refused with a contract code.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from calcinosis.core.assessment import Finding
from calcinosis.core.case import Case, Fact, LabResult, Lesions, Medication
from calcinosis.core.codes import CodeSystem, normalise_icd10
from calcinosis.core.knowledge import NOTE_DISAGREEMENT, Knowledge
from calcinosis.core.notes import NoteExtraction, NoteFinding, extract, html_to_text
from calcinosis.core.text import PhraseMatcher
from calcinosis.errors import (
    InvalidResourceError,
    MultiplePatientsError,
    NoPatientError,
    NotABundleError,
    UnitError,
)
from calcinosis.fhir.resources import (
    MAPPING,
    Resolver,
    codings,
    date_of,
    first_text,
    text_of,
)

_RESPONSE = re.compile(
    r"^Treatment response: (responded|no response|partial|unknown|not-applicable)\.", re.I
)
_SKIP_STATUS = {"entered-in-error", "cancelled", "draft", "not-taken", "intended"}
_INTERPRETATION = {
    "N": "normal",
    "H": "high",
    "HH": "high",
    "HU": "high",
    "L": "low",
    "LL": "low",
    "LU": "low",
    "A": "abnormal",
    "AA": "abnormal",
    "POS": "positive",
    "NEG": "negative",
    "DET": "positive",
    "ND": "negative",
}
# The consistency of the lesions each concept records (core/rules/signals.py reads it).
CONSISTENCY_OF = {
    "consistency-hard": "hard",
    "consistency-firm": "firm",
    "consistency-soft": "soft",
    "consistency-indurated": "indurated",
}
_SITE_PREFIX = "sites-"
# An oral antibiotic named with a topical cue (knowledge: topical_cues) is read as this.
ORAL_READ_AS_TOPICAL = ("oral-antibiotic", "topical-acne-treatment")


def done_by_label(spec: Mapping[str, str]) -> tuple[str, ...]:
    """What an exam label's Observation says was done, whatever its value: imaging or
    histology (knowledge: exam_labels)."""
    if spec.get("context") == "imaging":
        return ("imaging:done",)
    if spec.get("context") == "histology" or spec.get("concept", "").startswith("histology-"):
        return ("histology:done",)
    return ()


def case_from_bundle(bundle: Mapping[str, Any], kb: Knowledge) -> Case:
    """Validate the Bundle's shape and turn its resources into a Case."""
    if not isinstance(bundle, MAPPING) or bundle.get("resourceType") != "Bundle":
        raise NotABundleError("the input is not a FHIR Bundle (resourceType must be 'Bundle')")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidResourceError("Bundle.entry must be a list")
    resolver = Resolver()
    for index, entry in enumerate(entries):
        if not isinstance(entry, MAPPING):
            raise InvalidResourceError(f"Bundle.entry[{index}] must be an object")
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, MAPPING):
            raise InvalidResourceError(f"Bundle.entry[{index}].resource must be an object")
        if not isinstance(resource.get("resourceType"), str):
            raise InvalidResourceError(f"Bundle.entry[{index}].resource has no resourceType")
        full_url = entry.get("fullUrl")
        if full_url is not None and not isinstance(full_url, str):
            raise InvalidResourceError(f"Bundle.entry[{index}].fullUrl must be a string")
        resolver.add(resource, full_url)
    return _CaseBuilder(kb, resolver).build()


class _CaseBuilder:
    def __init__(self, kb: Knowledge, resolver: Resolver) -> None:
        self.kb = kb
        self.r = resolver
        self.facts: list[Fact] = []
        self.labs: list[LabResult] = []
        self.meds: list[Medication] = []
        self.warnings: list[tuple[str, str, tuple[Finding, ...]]] = []
        self.lesion: dict[str, Any] = {"consistency": [], "sites": [], "findings": []}
        self.age_range: tuple[float, float] | None = None
        # (resource reference, attachment position, what it says, its date)
        self.notes: list[tuple[str, int, NoteExtraction, dt.date | None]] = []

    def build(self) -> Case:
        patients = [p for p in self.r.of_type("Patient") if p.get("active") is not False]
        if not patients:
            raise NoPatientError("the Bundle holds no Patient resource")
        if len(patients) > 1:
            raise MultiplePatientsError(
                f"the Bundle holds {len(patients)} patients; assess one patient per Bundle"
            )
        patient = patients[0]
        self.r.set_patient(patient)
        sex = patient.get("gender", "unknown")
        if sex not in ("male", "female", "other", "unknown"):
            raise InvalidResourceError(f"Patient.gender {sex!r} is not a FHIR gender code")
        birth = patient.get("birthDate")
        birth_date = date_of(birth, "Patient.birthDate") if birth is not None else None
        for resource in self.r.resources():
            if not self.r.belongs_to_patient(resource):
                continue
            kind = resource["resourceType"]
            reader = _READERS.get(kind)
            if reader is not None:
                reader(self, resource)
        self._apply_notes()
        return Case(
            patient_id=str(patient.get("id") or "unknown"),
            patient_reference=self.r.reference_of(patient),
            sex=sex,
            birth_date=birth_date,
            age_range_years=self.age_range,
            facts=tuple(self.facts),
            labs=tuple(self.labs),
            medications=tuple(self.meds),
            lesions=self._lesions(),
            ingest_warnings=tuple(self.warnings),
        )

    # ------------------------------------------------------------------ helpers
    def finding(self, resource: Mapping[str, Any], summary: str) -> Finding:
        return Finding(self.r.reference_of(resource), _shorten(summary))

    def warn(self, rule_id: str, summary: str, *findings: Finding) -> None:
        """A warning the engine raises from the input, resting on these resources (a note's
        disagreement: the note first, then the coded record that was used)."""
        self.warnings.append((rule_id, summary, findings))

    def read_text(
        self,
        text: str,
        context: str,
        finding: Finding,
        *,
        matcher: PhraseMatcher | None = None,
        historical: bool = False,
        uncertain: bool = False,
        onset: dt.date | None = None,
        onset_text: str = "",
    ) -> list[str]:
        """Match text in a context and record the facts; returns the affirmed concept ids."""
        table = self.kb.contexts.get(context, {})
        found: list[str] = []
        for hit in (matcher or self.kb.findings_matcher).find(text):
            if hit.other_person:
                continue
            concept: str | None = table.get(hit.concept, hit.concept)
            if concept is None:
                continue
            self.add_fact(
                concept,
                not hit.negated,
                finding,
                uncertain=uncertain or hit.uncertain,
                historical=historical,
                origin="text",
                onset=onset,
                onset_text=onset_text,
            )
            if not hit.negated and not hit.uncertain:
                found.append(concept)
        return found

    def add_fact(
        self,
        concept: str,
        present: bool,
        finding: Finding,
        *,
        uncertain: bool = False,
        historical: bool = False,
        origin: str = "structured",
        onset: dt.date | None = None,
        onset_text: str = "",
    ) -> None:
        self.facts.append(
            Fact(concept, present, finding, uncertain, historical, origin, onset, onset_text)
        )
        implied = self.kb.implies.get(concept) if present else None
        for cid in implied or ():
            self.facts.append(
                Fact(cid, present, finding, uncertain, historical, origin, onset, onset_text)
            )

    # ------------------------------------------------------------------ resources
    def condition(self, res: Mapping[str, Any]) -> None:
        verification = _status_code(res.get("verificationStatus"))
        if verification in ("refuted", "entered-in-error"):
            return
        uncertain = verification in ("provisional", "differential", "unconfirmed")
        clinical = _status_code(res.get("clinicalStatus")) or "active"
        historical = clinical in ("resolved", "inactive", "remission")
        code = res.get("code")
        label = first_text(code) or "condition"
        finding = self.finding(res, f"Condition: {label}")
        onset = None
        if isinstance(res.get("onsetDateTime"), str):
            onset = date_of(res["onsetDateTime"], "Condition.onsetDateTime")
        onset_text = str(res["onsetString"]) if isinstance(res.get("onsetString"), str) else ""
        coded = False
        for system, value in codings(code):
            for cid in self._concepts_for_code(system, value):
                coded = True
                self.add_fact(
                    cid,
                    True,
                    finding,
                    uncertain=uncertain,
                    historical=historical,
                    origin="code",
                    onset=onset,
                    onset_text=onset_text,
                )
        text = text_of(code)
        if text:
            kwargs: dict[str, Any] = {
                "historical": historical,
                "uncertain": uncertain,
                "onset": onset,
                "onset_text": onset_text,
            }
            self.read_text(text, "condition", finding, **kwargs)
            self.read_text(text, "condition", finding, matcher=self.kb.medication_matcher, **kwargs)
        if uncertain and (coded or text):
            self.warn("warning.uncertain-diagnosis", f"Provisional diagnosis: {label}", finding)

    def medication(self, res: Mapping[str, Any]) -> None:
        status = res.get("status", "unknown")
        if status in _SKIP_STATUS:
            return
        kind = res["resourceType"]
        concept = res.get("medicationCodeableConcept")
        if concept is None and isinstance(res.get("medicationReference"), MAPPING):
            target = self.r.resolve(res["medicationReference"].get("reference"), res)
            concept = target.get("code") if target else None
        label = first_text(concept) or "medication"
        finding = self.finding(res, f"{kind}: {label} ({status})")
        concepts: set[str] = set()
        for system, value in codings(concept):
            concepts.update(self._concepts_for_code(system, value))
        text = text_of(concept)
        dosage = " ".join(
            d.get("text", "") for d in res.get("dosageInstruction") or [] if isinstance(d, MAPPING)
        )
        route_text = f"{text} {dosage}".lower()
        for hit in self.kb.medication_matcher.find(text):
            if not hit.negated:
                concepts.add(hit.concept)
        oral, topical = ORAL_READ_AS_TOPICAL
        if oral in concepts and any(c in route_text for c in self.kb.topical_cues):
            concepts.discard(oral)
            concepts.add(topical)
        notes = " ".join(n.get("text", "") for n in res.get("note") or [] if isinstance(n, MAPPING))
        match = _RESPONSE.match(notes.strip())
        response = match.group(1).lower() if match else "unknown"
        start, end = _period(res, kind)
        self.meds.append(
            Medication(
                concepts=frozenset(concepts),
                finding=finding,
                status=str(status),
                response=response,
                start=start,
                end=end,
                text=text,
                is_order=kind == "MedicationRequest",
                note=notes,
            )
        )

    def observation(self, res: Mapping[str, Any]) -> None:
        if res.get("status") in ("entered-in-error", "cancelled"):
            return
        code = res.get("code") or {}
        label = code.get("text") if isinstance(code, MAPPING) else None
        if isinstance(label, str):
            # one lookup per table: most observations are in neither
            unit = self.kb.age_labels.get(label)
            if unit is not None:
                self._age_range(res, unit)
                return
            spec = self.kb.exam_labels.get(label)
            if spec is not None:
                self._exam(res, label, spec)
                return
        analyte = self._analyte_of(code)
        if analyte is not None:
            self._lab(res, analyte)
            return
        self._coded_finding(res)

    def diagnostic_report(self, res: Mapping[str, Any]) -> None:
        if res.get("status") in ("entered-in-error", "cancelled"):
            return
        categories = {value for _, value in codings_all(res.get("category"))}
        title = first_text(res.get("code")) or "report"
        imaging = "RAD" in categories or any(
            w in title.lower() for w in ("imaging", "radiograph", "x-ray", "ultrasound", "ct ")
        )
        context = "imaging" if imaging else "histology"
        finding = self.finding(res, f"{title}: {res.get('conclusion') or ''}")
        texts = [res.get("conclusion")] if isinstance(res.get("conclusion"), str) else []
        texts += [text_of(c) for c in res.get("conclusionCode") or []]
        for text in texts:
            if text:
                self.read_text(text, context, finding)
        if not imaging:
            self.add_fact("histology:done", True, finding)
        else:
            self.add_fact("imaging:done", True, finding)
        # the report's own text (presentedForm) is read like a clinic note, sentence by sentence
        when = None
        for key in ("effectiveDateTime", "issued"):
            if isinstance(res.get(key), str):
                when = date_of(res[key], f"DiagnosticReport.{key}")
                break
        reference = self.r.reference_of(res)
        for index, text in note_attachments(res.get("presentedForm")):
            self.notes.append((reference, index, extract(text, self.kb, context), when))

    def procedure(self, res: Mapping[str, Any]) -> None:
        if res.get("status") in ("entered-in-error", "not-done", "preparation"):
            return
        title = first_text(res.get("code")) or "procedure"
        finding = self.finding(res, f"Procedure: {title}")
        lowered = title.lower()
        context = (
            "extraction"
            if any(w in lowered for w in ("extract", "excis", "curett", "incision", "expression"))
            else "condition"
        )
        self.read_text(title, "condition", finding)
        extra = [text_of(res.get("outcome"))]
        extra += [n.get("text", "") for n in res.get("note") or [] if isinstance(n, MAPPING)]
        for text in extra:
            if text:
                self.read_text(text, context, finding)

    def document(self, res: Mapping[str, Any]) -> None:
        if res.get("status") == "entered-in-error":
            return
        content = res.get("content")
        attachments = [
            c.get("attachment") if isinstance(c, MAPPING) else None
            for c in (content if isinstance(content, list) else [])
        ]
        when = None
        if isinstance(res.get("date"), str):
            when = date_of(res["date"], "DocumentReference.date")
        reference = self.r.reference_of(res)
        for index, text in note_attachments(attachments):
            self.notes.append((reference, index, extract(text, self.kb), when))

    # ------------------------------------------------------------------ notes
    def _apply_notes(self) -> None:
        """Note findings join the case; coded or structured data wins when they disagree."""
        if not self.notes:
            return
        # what the coded record says, with the resource that says it first
        coded: dict[str, dict[bool, Finding]] = {}
        for fact in self.facts:
            if fact.origin != "text" and not fact.uncertain:
                coded.setdefault(fact.concept, {}).setdefault(fact.present, fact.finding)
        coded_meds: dict[str, Medication] = {}
        for med in self.meds:
            for concept in med.concepts:
                if med.response != "unknown":
                    coded_meds.setdefault(concept, med)
        coded_labs: dict[str, list[LabResult]] = {}
        for lab in self.labs:
            coded_labs.setdefault(lab.analyte, []).append(lab)
        structured = {
            "consistency": bool(self.lesion["consistency"]),
            "sites": bool(self.lesion["sites"]),
            "count": "count" in self.lesion or bool(self.lesion.get("count_text")),
            "duration": "duration_days" in self.lesion,
        }
        for reference, attachment, extraction, when in self.notes:
            for item in extraction.findings:
                finding = note_finding(reference, item, attachment)
                if item.kind == "finding":
                    self._note_fact(item, finding, coded, structured)
                elif item.kind == "medication":
                    self._note_medication(item, finding, coded_meds)
                elif item.kind == "lab":
                    self._note_lab(item, finding, coded_labs, when)
                elif item.kind == "lesion-count" and not structured["count"]:
                    if item.count is not None and "count" not in self.lesion:
                        self.lesion["count"] = item.count
                    elif item.count_text and not self.lesion.get("count_text"):
                        self.lesion["count_text"] = item.count_text
                    self.lesion["findings"].append(finding)
                elif item.kind == "lesion-duration" and not structured["duration"]:
                    current = self.lesion.get("note_duration_days")
                    if item.duration_days is not None and (
                        current is None or item.duration_days > current
                    ):
                        self.lesion["note_duration_days"] = item.duration_days
                        self.lesion["findings"].append(finding)

    def _note_fact(
        self,
        item: NoteFinding,
        finding: Finding,
        coded: Mapping[str, Mapping[bool, Finding]],
        structured: Mapping[str, bool],
    ) -> None:
        if item.status == "other-person":
            return
        present = item.status != "negated"
        known = coded.get(item.concept)
        if known and present not in known:
            concept = self.kb.concepts.get(item.concept)
            label = concept.label if concept else self.kb.signal_labels.get(item.concept, "")
            label = label or item.concept
            said = {True: label, False: f"no {label}"}
            self.warn(
                NOTE_DISAGREEMENT,
                self._disagreement("finding", note=said[present], coded=said[True in known]),
                finding,
                *known.values(),
            )
            return
        self.add_fact(
            item.concept,
            present,
            finding,
            uncertain=item.status == "uncertain",
            historical=item.status == "historical",
            origin="text",
        )
        if item.context in ("histology", "imaging") and item.status != "uncertain":
            self.add_fact(f"{item.context}:done", True, finding)
        if not present or item.status == "uncertain" or item.context not in ("exam", "note"):
            return
        kind = CONSISTENCY_OF.get(item.concept)
        if kind and not structured["consistency"]:
            self.lesion["consistency"].append(kind)
            self.lesion["findings"].append(finding)
        if item.concept.startswith(_SITE_PREFIX) and not structured["sites"]:
            if item.concept not in self.lesion["sites"]:
                self.lesion["sites"].append(item.concept)
            if not self.lesion.get("site_text"):
                self.lesion["site_text"] = item.sentence[
                    item.hit_start - item.start : item.hit_end - item.start
                ]

    def _note_medication(
        self, item: NoteFinding, finding: Finding, coded: Mapping[str, Medication]
    ) -> None:
        if item.status in ("negated", "other-person", "uncertain"):
            return
        response = item.response or "unknown"
        record = coded.get(item.concept)
        if record is not None:
            if response != "unknown" and record.response != response:
                self.warn(
                    NOTE_DISAGREEMENT,
                    self._disagreement(
                        "medication", concept=item.concept, note=response, coded=record.response
                    ),
                    finding,
                    record.finding,
                )
            return
        self.meds.append(
            Medication(
                concepts=frozenset({item.concept}),
                finding=finding,
                status=item.med_status or "unknown",
                response=response,
                text=item.sentence,
                note=item.sentence,
                duration_days=item.duration_days,
            )
        )

    def _note_lab(
        self,
        item: NoteFinding,
        finding: Finding,
        coded: Mapping[str, list[LabResult]],
        when: dt.date | None,
    ) -> None:
        analyte = self.kb.analytes[item.concept]
        value: float | None = None
        if item.value is not None and item.unit is not None and analyte.unit is not None:
            try:
                value = self.kb.units.convert(
                    item.value, item.unit, analyte.unit, analyte.molar_mass
                )
            except UnitError:
                value = None
        if item.concept in coded:
            # a lab report wins over a number copied into a note; a different one is flagged
            self._lab_disagreement(item, finding, value, coded[item.concept], when)
            return
        if item.problem:
            self.warn("warning.unit-not-usable", item.problem, finding)
        self.labs.append(
            LabResult(
                analyte=item.concept,
                finding=finding,
                when=when,
                value=value,
                unit=analyte.unit if value is not None else None,
                flag=item.flag,
                unit_problem=item.problem or None,
                text=analyte.label,
            )
        )

    def _lab_disagreement(
        self,
        item: NoteFinding,
        finding: Finding,
        value: float | None,
        records: list[LabResult],
        when: dt.date | None,
    ) -> None:
        """Warn when the note's value (or flag) differs from the coded result of its date, or,
        for an undated note, from the latest coded result."""
        if when is not None:
            same_day = [lab for lab in records if lab.when == when]
        else:
            latest = max(lab.when or dt.date.min for lab in records)
            same_day = [lab for lab in records if (lab.when or dt.date.min) == latest]
        tolerance = self.kb.units.convert(self.kb.threshold("note-lab-disagreement"), "%", "1")
        analyte = self.kb.analytes[item.concept]
        for lab in same_day:
            if value is not None and lab.value is not None and item.unit is not None:
                if abs(value - lab.value) <= tolerance * max(abs(value), abs(lab.value)):
                    continue
                shown = self.kb.units.convert(
                    lab.value, analyte.unit or item.unit, item.unit, analyte.molar_mass
                )
                note = f"{item.value:g} {item.unit}"
                said = f"{shown:.3g} {item.unit}"
            elif value is None and item.flag and lab.flag:
                if _flags_agree(item.flag, lab.flag):
                    continue
                note, said = item.flag, lab.flag
            else:
                continue
            self.warn(
                NOTE_DISAGREEMENT,
                self._disagreement(
                    "lab",
                    analyte=analyte.label,
                    note=note,
                    coded=said,
                    when=f" on {lab.when.isoformat()}" if lab.when else "",
                ),
                finding,
                lab.finding,
            )
            return

    def _disagreement(self, kind: str, **fields: str) -> str:
        """The knowledge's wording of a note's disagreement with the coded record."""
        template = str(self.kb.rules[NOTE_DISAGREEMENT].data["details"][kind])
        return template.format(**fields)

    # ------------------------------------------------------------------ observation kinds
    def _exam(self, res: Mapping[str, Any], label: str, spec: Mapping[str, str]) -> None:
        field = spec["field"]
        value = _observation_value(res)
        finding = self.finding(res, f"{label}: {value if value is not None else ''}")
        site = res.get("bodySite")
        site_text = text_of(site) if isinstance(site, MAPPING) else ""
        if site_text:
            self._sites(site_text, finding)
        context = spec.get("context")
        for done in done_by_label(spec):
            self.add_fact(done, True, finding)
        if field == "boolean":
            if isinstance(res.get("valueBoolean"), bool):
                self.add_fact(spec["concept"], res["valueBoolean"], finding)
            return
        if field == "text" and isinstance(value, str):
            self.read_text(value, context if context is not None else "exam", finding)
            self.lesion["findings"].append(finding)
        elif field == "sites" and isinstance(value, str):
            self._sites(value, finding)
        elif field == "consistency" and isinstance(value, str):
            for hit in self.kb.findings_matcher.find(value):
                kind = CONSISTENCY_OF.get(hit.concept)
                if kind and not hit.negated:
                    self.lesion["consistency"].append(kind)
            self.lesion["findings"].append(finding)
        elif field == "count":
            if isinstance(res.get("valueInteger"), int) and res["valueInteger"] >= 0:
                self.lesion["count"] = res["valueInteger"]
            elif isinstance(value, str):
                self.lesion["count_text"] = value
                self.read_text(value, "exam", finding)
        elif field == "size":
            self._size(res)
        elif field == "duration":
            self._duration(res, finding)

    def _sites(self, text: str, finding: Finding) -> None:
        if not self.lesion.get("site_text"):
            self.lesion["site_text"] = text
        for hit in self.kb.findings_matcher.find(text):
            fresh = hit.concept not in self.lesion["sites"]
            if hit.concept.startswith(_SITE_PREFIX) and not hit.negated and fresh:
                self.lesion["sites"].append(hit.concept)
                self.add_fact(hit.concept, True, finding)

    def _size(self, res: Mapping[str, Any]) -> None:
        quantities: list[Any] = []
        if isinstance(res.get("valueQuantity"), MAPPING):
            quantities = [res["valueQuantity"], res["valueQuantity"]]
        elif isinstance(res.get("valueRange"), MAPPING):
            quantities = [res["valueRange"].get("low"), res["valueRange"].get("high")]
        values: list[float | None] = []
        for q in quantities:
            try:
                values.append(self._quantity(q, "mm"))
            except UnitError:
                values.append(None)
        if values:
            self.lesion["size_low"], self.lesion["size_high"] = values[0], values[-1]

    def _duration(self, res: Mapping[str, Any], finding: Finding) -> None:
        q = res.get("valueQuantity")
        if isinstance(q, MAPPING) and isinstance(q.get("value"), (int, float)):
            unit = q.get("code") or q.get("unit")
            try:
                self.lesion["duration_days"] = self.kb.units.convert_duration_to_days(
                    float(q["value"]), str(unit)
                )
            except UnitError as exc:
                self.warn("warning.unit-not-usable", exc.message, finding)
        elif isinstance(res.get("valueString"), str):
            self.lesion["duration_text"] = res["valueString"]
            self.read_text(res["valueString"], "exam", finding)

    def _age_range(self, res: Mapping[str, Any], unit: str) -> None:
        rng = res.get("valueRange")
        if not isinstance(rng, MAPPING):
            return
        try:
            low = self.kb.units.convert_duration_to_days(float(rng["low"]["value"]), unit)
            high = self.kb.units.convert_duration_to_days(float(rng["high"]["value"]), unit)
        except (KeyError, TypeError, ValueError, UnitError):
            return
        year = self.kb.units.convert_duration_to_days(1.0, "a")
        self.age_range = (low / year, high / year)

    def _analyte_of(self, code: Any) -> str | None:
        for system, value in codings(code):
            if system == CodeSystem.LOINC and value in self.kb.loinc_to_analyte:
                return self.kb.loinc_to_analyte[value]
        text = text_of(code)
        if not text:
            return None
        hits = [h for h in self.kb.analyte_matcher.find(text) if not h.negated]
        return hits[0].concept if hits else None

    def _lab(self, res: Mapping[str, Any], analyte_id: str) -> None:
        analyte = self.kb.analytes[analyte_id]
        label = first_text(res.get("code")) or analyte.label
        when = None
        if isinstance(res.get("effectiveDateTime"), str):
            when = date_of(res["effectiveDateTime"], "Observation.effectiveDateTime")
        flag = _flag(res.get("interpretation"))
        value: float | None = None
        problem: str | None = None
        q = res.get("valueQuantity")
        shown = ""
        if isinstance(q, MAPPING) and "value" in q:
            raw = q.get("value")
            unit = q.get("code") or q.get("unit")
            shown = f"{raw} {unit or '(no unit)'}"
            if not isinstance(raw, (int, float)) or isinstance(raw, bool):
                raise InvalidResourceError(
                    f"Observation valueQuantity.value {raw!r} is not a number"
                )
            if analyte.unit is None:
                problem = None
            else:
                try:
                    value = self._quantity(q, analyte.unit, analyte.molar_mass)
                except UnitError as exc:
                    problem = (
                        f"{label} {raw} with unit {unit!r} cannot be used: {exc.message}"
                        if unit
                        else f"{label} {raw} was sent without a unit and cannot be used"
                    )
        elif isinstance(res.get("valueString"), str):
            shown = res["valueString"]
            flag = flag or _qualitative_flag(res["valueString"])
        elif isinstance(res.get("valueCodeableConcept"), MAPPING):
            shown = first_text(res["valueCodeableConcept"])
            flag = flag or _qualitative_flag(shown)
        low, high = self._reference_range(res, analyte.unit, analyte.molar_mass)
        finding = self.finding(res, f"{label} {shown} {f'({flag})' if flag else ''}".strip())
        if problem:
            self.warn("warning.unit-not-usable", problem, finding)
        self.labs.append(
            LabResult(
                analyte=analyte_id,
                finding=finding,
                when=when,
                value=value,
                unit=analyte.unit if value is not None else None,
                flag=flag,
                low=low,
                high=high,
                unit_problem=problem,
                text=label,
            )
        )

    def _quantity(self, q: Any, target: str, molar_mass: float | None = None) -> float:
        if not isinstance(q, MAPPING) or not isinstance(q.get("value"), (int, float)):
            raise UnitError("no numeric value")
        unit = q.get("code") or q.get("unit")
        if q.get("system") not in (None, CodeSystem.UCUM) and q.get("code"):
            unit = q.get("unit") or q.get("code")
        if not isinstance(unit, str) or not unit:
            raise UnitError("no unit was sent")
        return self.kb.units.convert(float(q["value"]), unit, target, molar_mass)

    def _reference_range(
        self, res: Mapping[str, Any], unit: str | None, molar: float | None
    ) -> tuple[float | None, float | None]:
        ranges = res.get("referenceRange")
        if not unit or not isinstance(ranges, list) or not ranges:
            return None, None
        rng = ranges[0] if isinstance(ranges[0], MAPPING) else {}
        out: list[float | None] = []
        for key in ("low", "high"):
            try:
                out.append(self._quantity(rng.get(key), unit, molar))
            except UnitError:
                out.append(None)
        return out[0], out[1]

    def _coded_finding(self, res: Mapping[str, Any]) -> None:
        """Observations we have no label for: SNOMED-coded findings and exam/imaging text."""
        code = res.get("code")
        label = first_text(code) or "observation"
        finding = self.finding(res, f"{label}: {_observation_value(res) or ''}")
        present = res.get("valueBoolean") is not False
        for source in (code, res.get("valueCodeableConcept")):
            for system, code_value in codings(source):
                for cid in self._concepts_for_code(system, code_value):
                    self.add_fact(cid, present, finding, origin="code")
        categories = {c for _, c in codings_all(res.get("category"))}
        text = res.get("valueString")
        if isinstance(text, str) and categories & {"exam", "imaging"}:
            self.read_text(text, "imaging" if "imaging" in categories else "exam", finding)

    def _concepts_for_code(self, system: str, value: str) -> tuple[str, ...]:
        kb = self.kb
        if system in (CodeSystem.ICD10CM, CodeSystem.ICD10):
            code = normalise_icd10(value)
            found = list(kb.codes.get(("icd10cm", code), ()))
            for prefix, concepts in kb.icd10cm_prefixes.items():
                if code.startswith(prefix):
                    found.extend(concepts)
            return tuple(found)
        key = _VALUE_SET_SYSTEMS.get(system)
        return kb.codes.get((key, value), ()) if key else ()

    def _lesions(self) -> Lesions:
        les = self.lesion
        return Lesions(
            consistency=tuple(dict.fromkeys(les["consistency"])),
            count=les.get("count"),
            count_text=les.get("count_text", ""),
            size_mm_low=les.get("size_low"),
            size_mm_high=les.get("size_high"),
            duration_days=les.get("duration_days", les.get("note_duration_days")),
            duration_text=les.get("duration_text", ""),
            sites=tuple(les["sites"]),
            site_text=les.get("site_text", ""),
            findings=tuple(les["findings"]),
        )


# Code systems whose codes the value sets list under these keys (ICD-10 is handled apart).
_VALUE_SET_SYSTEMS = {
    CodeSystem.SNOMED.value: "snomed",
    CodeSystem.RXNORM.value: "rxnorm",
    CodeSystem.LOINC.value: "loinc",
}

_READERS = {
    "Condition": _CaseBuilder.condition,
    "MedicationStatement": _CaseBuilder.medication,
    "MedicationRequest": _CaseBuilder.medication,
    "MedicationAdministration": _CaseBuilder.medication,
    "Observation": _CaseBuilder.observation,
    "DiagnosticReport": _CaseBuilder.diagnostic_report,
    "Procedure": _CaseBuilder.procedure,
    "DocumentReference": _CaseBuilder.document,
}
# Every resource type an assessment reads; population screening gathers these per patient.
RESOURCE_TYPES_READ = ("Patient", *_READERS)


def codings_all(value: Any) -> Iterable[tuple[str, str]]:
    """Codings of a CodeableConcept or of a list of them."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        yield from codings(item)


def _status_code(value: Any) -> str | None:
    """Status codings are read by code alone: some EHRs leave out the system."""
    if not isinstance(value, MAPPING):
        return None
    for coding in value.get("coding") or []:
        if isinstance(coding, MAPPING) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


def _flag(value: Any) -> str | None:
    for _, code in codings_all(value):
        if code in _INTERPRETATION:
            return _INTERPRETATION[code]
    return None


def _qualitative_flag(text: str) -> str | None:
    lowered = text.lower()
    if lowered.startswith(("positive", "detected", "reactive")):
        return "positive"
    if lowered.startswith(("negative", "not detected", "non-reactive", "nonreactive")):
        return "negative"
    if lowered.startswith(("normal", "within normal", "within limits", "unremarkable")):
        return "normal"
    return None


def _observation_value(res: Mapping[str, Any]) -> Any:
    for key in ("valueString", "valueBoolean", "valueInteger"):
        if key in res:
            return res[key]
    if isinstance(res.get("valueCodeableConcept"), MAPPING):
        return first_text(res["valueCodeableConcept"])
    q = res.get("valueQuantity")
    if isinstance(q, MAPPING):
        return f"{q.get('value')} {q.get('unit') or q.get('code') or ''}".strip()
    rng = res.get("valueRange")
    if isinstance(rng, MAPPING):
        low, high = rng.get("low") or {}, rng.get("high") or {}
        return f"{low.get('value')}-{high.get('value')} {high.get('unit') or ''}".strip()
    return None


def _period(res: Mapping[str, Any], kind: str) -> tuple[dt.date | None, dt.date | None]:
    period = res.get("effectivePeriod")
    if kind == "MedicationRequest":
        dispense = res.get("dispenseRequest") or {}
        period = dispense.get("validityPeriod") if isinstance(dispense, MAPPING) else None
        if not isinstance(period, MAPPING) and isinstance(res.get("authoredOn"), str):
            return date_of(res["authoredOn"], "MedicationRequest.authoredOn"), None
    if kind == "MedicationAdministration" and isinstance(res.get("effectiveDateTime"), str):
        day = date_of(res["effectiveDateTime"], "MedicationAdministration.effectiveDateTime")
        return day, day
    if not isinstance(period, MAPPING):
        return None, None
    start = period.get("start")
    end = period.get("end")
    return (
        date_of(start, "effectivePeriod.start") if isinstance(start, str) else None,
        date_of(end, "effectivePeriod.end") if isinstance(end, str) else None,
    )


def _flags_agree(note: str, coded: str) -> bool:
    """A flag written in a note against the laboratory's: "abnormal" agrees with high or low."""
    return note == coded or {note, coded} in ({"abnormal", "high"}, {"abnormal", "low"})


def note_attachments(items: Any) -> list[tuple[int, str]]:
    """The readable attachments of a note, each with its position in the list (0-based), which
    names it in references: inline `data` of type text/plain, or text/html with the tags blanked
    so that offsets hold in the decoded markup. An attachment whose text (tags and spacing set
    aside) repeats one already read is another rendition of it and is not read twice; attachments
    given only by `url` are never fetched, and undecodable ones are skipped."""
    out: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, att in enumerate(items if isinstance(items, list) else []):
        if not isinstance(att, MAPPING) or not isinstance(att.get("data"), str):
            continue
        ctype = str(att.get("contentType") or "text/plain")
        if not ctype.startswith(("text/plain", "text/html")):
            continue
        try:
            text = base64.b64decode(att["data"], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if ctype.startswith("text/html"):
            text = html_to_text(text)
        same = "".join(text.split())
        if not same or same in seen:
            continue
        seen.add(same)
        out.append((index, text))
    return out


def note_finding(reference: str, item: NoteFinding, attachment: int = 0) -> Finding:
    """A note-based finding: the sentence's span in the decoded text of the resource's first
    attachment (`DocumentReference/<id>#<start>-<end>`) or of the attachment at position k > 0
    (`DocumentReference/<id>#<k>:<start>-<end>`), and the sentence (docs/clarifications.md)."""
    where = f"{attachment}:" if attachment else ""
    return Finding(
        f"{reference}#{where}{item.start}-{item.end}", _shorten(f'Note: "{item.sentence}"', 240)
    )


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
