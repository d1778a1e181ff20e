"""Reading a submitted case form into a checked CaseForm, every problem named by its field.

What the form asks is form_spec.py; turning a CaseForm into a FHIR Bundle is form_bundle.py.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from calcinosis.web.ui.form_spec import (
    ACNE_ONSET,
    ACNE_STATUS,
    COLOURS,
    CONSISTENCIES,
    DURATION_UNITS,
    LAB_FLAGS,
    MORPHOLOGIES,
    RESPONSES,
    SEXES,
    SITES,
    STAIN_RESULTS,
    TREATMENTS,
    TRI_STATE,
    FormSpec,
    Option,
    Treatment,
)

RawForm = Mapping[str, Sequence[str]]
"""A submitted form: every field name with its values, as strings."""

MAX_TEXT = 2000
MAX_NOTE = 20000  # a pasted clinic note keeps its lines
"""Free-text fields are notes, not documents."""


@dataclass(frozen=True)
class TreatmentEntry:
    treatment: Treatment
    response: str
    months: float | None


@dataclass(frozen=True)
class LabEntry:
    analyte: str
    label: str
    value: float | None
    unit: str
    flag: str


@dataclass(frozen=True)
class CaseForm:
    """A checked submission of the case form; empty strings mean "not stated"."""

    as_of: dt.date
    age: int | None
    sex: str
    acne: str
    acne_onset: str
    acne_years: float | None
    treatments: tuple[TreatmentEntry, ...]
    morphology: str
    consistency: str
    colour: str
    sites: tuple[str, ...]
    count: int | None
    size_mm: float | None
    duration: tuple[float, str] | None
    stretching: str
    chalky: str
    pain: str
    ulceration: str
    comedonal_opening: str
    extraction_text: str
    findings_text: str
    ctd: str
    kidney: str
    history: tuple[str, ...]
    calcium_infusion: bool
    history_text: str
    histology_calcium: str
    histology_bone: str
    von_kossa: str
    histology_text: str
    imaging_text: str
    labs: tuple[LabEntry, ...]
    note_text: str = ""


class FormInvalid(Exception):
    """The submission has errors; `errors` maps each field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(f"{len(errors)} field(s) need attention")
        self.errors = errors


def read_case_form(raw: RawForm, spec: FormSpec, today: dt.date) -> CaseForm:
    """Check every field and collect every problem, so the clinician fixes them in one pass."""
    r = _Reader(raw)
    as_of = r.date("as_of", "Assessment date", today)
    age = r.whole("age", "Age", 0, 130)
    acne_years = r.number("acne_years", "Years with acne", 0, 100)
    if age is not None and acne_years is not None and acne_years > age:
        r.errors["acne_years"] = f"Years with acne ({acne_years:g}) cannot exceed the age ({age})"
    treatments = []
    for t in TREATMENTS:
        response = r.choice(f"{t.key}_response", t.label, RESPONSES)
        months = r.number(f"{t.key}_months", f"{t.label}: duration", 0, 600, above_zero=True)
        if months is not None and not response:
            r.errors[f"{t.key}_response"] = (
                f"{t.label}: choose how the acne responded (or 'Given, response not known'), "
                "or clear the duration"
            )
        if response:
            treatments.append(TreatmentEntry(t, response, months))
    duration_value = r.number("duration_value", "Duration of the lesions", 0, 120, above_zero=True)
    duration_unit = r.choice("duration_unit", "Duration unit", DURATION_UNITS)
    labs = []
    for lab in spec.labs:
        name = lab.analyte.replace("-", "_")
        value = r.number(f"lab_{name}_value", lab.label, 0, 100_000, above_zero=True)
        unit = r.choice(f"lab_{name}_unit", f"{lab.label}: unit", lab.units)
        flag = r.choice(f"lab_{name}_flag", f"{lab.label}: result", LAB_FLAGS)
        if value is not None or flag:
            labs.append(LabEntry(lab.analyte, lab.label, value, unit or lab.units[0].value, flag))
    form = CaseForm(
        as_of=as_of,
        age=age,
        sex=r.choice("sex", "Sex", SEXES) or "unknown",
        acne=r.choice("acne", "Acne history", ACNE_STATUS),
        acne_onset=r.choice("acne_onset", "Acne onset", ACNE_ONSET),
        acne_years=acne_years,
        treatments=tuple(treatments),
        morphology=r.choice("morphology", "Morphology", MORPHOLOGIES),
        consistency=r.choice("consistency", "Consistency", CONSISTENCIES),
        colour=r.choice("colour", "Colour", COLOURS),
        sites=r.choices("sites", "Sites", SITES),
        count=r.whole("count", "Number of lesions", 1, 10_000),
        size_mm=r.number("size_mm", "Size", 0, 500, above_zero=True),
        duration=(duration_value, duration_unit or "a") if duration_value is not None else None,
        stretching=r.choice("stretching", "Visible on stretching", TRI_STATE),
        chalky=r.choice("chalky", "Chalky material on extraction", TRI_STATE),
        pain=r.choice("pain", "Pain", TRI_STATE),
        ulceration=r.choice("ulceration", "Ulceration", TRI_STATE),
        comedonal_opening=r.choice("comedonal_opening", "Comedonal opening", TRI_STATE),
        extraction_text=r.text("extraction_text", "Findings on extraction"),
        findings_text=r.text("findings_text", "Other clinical findings"),
        ctd=r.choice("ctd", "Connective-tissue disease", spec.ctd),
        kidney=r.choice("kidney", "Kidney disease", spec.kidney),
        history=r.choices("history", "Other history", spec.history),
        calcium_infusion=bool(spec.calcium_infusion) and r.flag("calcium_infusion"),
        history_text=r.text("history_text", "Other relevant history"),
        histology_calcium=r.choice("histology_calcium", "Calcium on histology", TRI_STATE),
        histology_bone=r.choice("histology_bone", "Bone on histology", TRI_STATE),
        von_kossa=r.choice("von_kossa", "Von Kossa stain", STAIN_RESULTS),
        histology_text=r.text("histology_text", "Pathologist's conclusion"),
        imaging_text=r.text("imaging_text", "Imaging findings"),
        labs=tuple(labs),
        note_text=r.note("note_text", "Clinic note"),
    )
    if r.errors:
        raise FormInvalid(r.errors)
    return form


def read_as_of(raw: RawForm, today: dt.date) -> tuple[dt.date, dict[str, str]]:
    """The assessment date of an upload or paste (default: today) and any error with it."""
    r = _Reader(raw)
    day = r.date("as_of", "Assessment date", today)
    return day, r.errors


class _Reader:
    """Typed access to raw fields; each problem is recorded under its field name."""

    def __init__(self, raw: RawForm) -> None:
        self.raw = raw
        self.errors: dict[str, str] = {}

    def one(self, name: str) -> str:
        values = self.raw.get(name) or ()
        return values[0].strip() if values else ""

    def text(self, name: str, label: str) -> str:
        value = " ".join(self.one(name).split())
        if len(value) > MAX_TEXT:
            self.errors[name] = f"{label}: at most {MAX_TEXT} characters, not {len(value)}"
            return ""
        return value

    def note(self, name: str, label: str) -> str:
        """Free text whose lines matter (a clinic note): line ends normalised, nothing else."""
        values = self.raw.get(name) or ()
        value = values[0].replace("\r\n", "\n").replace("\r", "\n").strip() if values else ""
        if len(value) > MAX_NOTE:
            self.errors[name] = f"{label}: at most {MAX_NOTE} characters, not {len(value)}"
            return ""
        return value

    def flag(self, name: str) -> bool:
        return self.one(name) not in ("", "off", "no")

    def choice(self, name: str, label: str, options: Sequence[Option]) -> str:
        value = self.one(name)
        if value and value not in {o.value for o in options}:
            self.errors[name] = f"{label}: {_shown(value)} is not one of the choices offered"
            return ""
        return value

    def choices(self, name: str, label: str, options: Sequence[Option]) -> tuple[str, ...]:
        allowed = {o.value for o in options}
        values = [v.strip() for v in self.raw.get(name) or () if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            self.errors[name] = f"{label}: {_shown(unknown[0])} is not one of the choices offered"
        return tuple(o.value for o in options if o.value in values)

    def number(
        self, name: str, label: str, low: float, high: float, *, above_zero: bool = False
    ) -> float | None:
        text = self.one(name)
        if not text:
            return None
        # Accept a decimal comma ("2,5") as many labs print it; nothing else is guessed.
        candidate = text.replace(",", ".") if text.count(",") == 1 and "." not in text else text
        try:
            value = float(candidate)
        except ValueError:
            self.errors[name] = f"{label}: {_shown(text)} is not a number (use digits, e.g. 2.5)"
            return None
        if not math.isfinite(value) or value < low or value > high or (above_zero and value == 0):
            floor = f"above {low:g}" if above_zero else f"from {low:g}"
            self.errors[name] = f"{label}: {_shown(text)} is out of range ({floor} to {high:g})"
            return None
        return value

    def whole(self, name: str, label: str, low: int, high: int) -> int | None:
        text = self.one(name)
        if not text:
            return None
        if not text.isdigit():
            self.errors[name] = f"{label}: {_shown(text)} is not a whole number"
            return None
        value = int(text)
        if not low <= value <= high:
            self.errors[name] = f"{label}: {value} is out of range ({low} to {high})"
            return None
        return value

    def date(self, name: str, label: str, default: dt.date) -> dt.date:
        text = self.one(name)
        if not text:
            return default
        try:
            if len(text) != 10:
                raise ValueError(text)
            return dt.date.fromisoformat(text)
        except ValueError:
            self.errors[name] = f"{label}: {_shown(text)} is not a date in the form YYYY-MM-DD"
            return default


def _shown(value: str) -> str:
    """The offending value, quoted and cut short: enough to recognise, never a page of input."""
    return repr(value if len(value) <= 40 else value[:39] + "…")
