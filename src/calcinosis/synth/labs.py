"""Laboratory Observations: values drawn per analyte state, in US or SI units (fhir-profile §5).

Values and reference ranges are written in US units in profiles.yaml; an SI laboratory reports
the same value times the analyte's factor. The interpretation flag is judged against the range
the result carries, so flag, value and range always agree. eGFR is reported from the panel's
creatinine by CKD-EPI 2021 with the knowledge base's coefficients, as laboratories do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from calcinosis.core.calculations import egfr_ckd_epi_2021
from calcinosis.synth.build import LOINC, Json, Record, flag, quantity
from calcinosis.synth.errors import SpecError
from calcinosis.synth.spec import Spec
from calcinosis.synth.values import Draw


@dataclass(frozen=True)
class Unit:
    """How one laboratory system reports an analyte."""

    code: str
    display: str
    loinc: str
    decimals: int
    factor: float


@dataclass(frozen=True)
class Patient:
    """What a laboratory knows about the patient: enough for eGFR."""

    age_years: float
    sex: str
    units: str  # "us" or "si"


class Labs:
    """Draws laboratory results for panels of profiles.yaml."""

    def __init__(self, spec: Spec) -> None:
        data = spec.data
        self._spec = spec
        self._analytes: Mapping[str, Any] = data["analytes"]
        self._units: dict[tuple[str, str], Unit] = {}
        for name, analyte in self._analytes.items():
            for system in ("us", "si"):
                u = analyte[system]
                self._units[(name, system)] = Unit(
                    code=str(u["unit"]),
                    display=str(u.get("display", u["unit"])),
                    loinc=str(u["loinc"]),
                    decimals=int(u["decimals"]),
                    factor=float(u.get("factor", 1)),
                )
        self._egfr: Mapping[str, Any] = data["egfr"]
        self._text_labs: Mapping[str, Any] = data["text_labs"]
        self._displays: Mapping[str, str] = data["codes"]["loinc"]
        defaults = data["defaults"]
        self._range_share = float(defaults["range_share"])
        self._flag_share = float(defaults["flag_share"])
        self._ckd_epi = spec.knowledge.ckd_epi

    def panel(
        self,
        rec: Record,
        draw: Draw,
        entries: Sequence[Mapping[str, Any]],
        who: Patient,
        days_ago: int,
    ) -> None:
        """One blood draw: every entry of the panel that its `p` lets through, same date."""
        when = rec.day(days_ago)
        creatinine_mg_dl: float | None = None
        for entry in entries:
            if "p" in entry and not draw.chance(float(entry["p"])):
                continue
            name = str(entry["analyte"])
            if name == "egfr":
                if creatinine_mg_dl is not None:
                    self._egfr_result(rec, draw, creatinine_mg_dl, who, when)
                continue
            value_us = self.result(rec, draw, entry, who, when)
            if name == "creatinine" and value_us is not None:
                creatinine_mg_dl = value_us

    def result(
        self, rec: Record, draw: Draw, entry: Mapping[str, Any], who: Patient, when: str
    ) -> float | None:
        """One result; returns its value in US units (None for a flag-only result)."""
        name = str(entry["analyte"])
        analyte = self._analytes.get(name)
        if analyte is None:
            raise SpecError(f"panels: unknown analyte {name!r}")
        state = analyte["states"].get(entry.get("state", "normal"))
        if state is None:
            raise SpecError(f"panels: analyte {name!r} has no state {entry.get('state')!r}")
        ref_us = analyte["range"]
        bounds = state
        if isinstance(state, Mapping):  # a state with its own reference range
            bounds, ref_us = state["value"], state.get("range", ref_us)
        unit = self._units[(name, who.units)]
        value_us = draw.rng.uniform(float(bounds[0]), float(bounds[1]))
        value = _rounded(value_us * unit.factor, unit.decimals)
        low = _rounded(float(ref_us[0]) * unit.factor, unit.decimals + 1)
        high = _rounded(float(ref_us[1]) * unit.factor, unit.decimals + 1)
        code = "H" if value > high else "L" if value < low else "N"
        coding = {"system": LOINC, "code": unit.loinc, "display": self._displays[unit.loinc]}
        concept: Json = {"coding": [coding], "text": draw.text(analyte["text"])}
        body: Json = {}
        if entry.get("flag_only"):
            body["interpretation"] = flag(code)
            rec.observation("laboratory", concept, when, body)
            return None
        body["valueQuantity"] = quantity(value, unit.code, unit.display)
        if draw.chance(self._flag_share):
            body["interpretation"] = flag(code)
        if entry.get("with_range") or draw.chance(self._range_share):
            rng = {"low": quantity(low, unit.code, unit.display)}
            rng["high"] = quantity(high, unit.code, unit.display)
            body["referenceRange"] = [rng]
        rec.observation("laboratory", concept, when, body)
        return value_us

    def text_lab(self, rec: Record, draw: Draw, name: str, state: str, days_ago: int) -> None:
        """A result sent with text only (no code we hold): HbA1c, TSH, cholesterol..."""
        lab = self._text_labs.get(name)
        if lab is None or state not in lab:
            raise SpecError(f"text_labs: no {name!r} with state {state!r}")
        low, high = lab[state]
        value = _rounded(draw.rng.uniform(float(low), float(high)), int(lab["decimals"]))
        unit = str(lab["unit"])
        display = unit.replace("m[IU]", "mIU")
        body: Json = {"valueQuantity": quantity(value, unit, display)}
        rec.observation("laboratory", str(lab["text"]), rec.day(days_ago), body)

    def _egfr_result(
        self, rec: Record, draw: Draw, creatinine_mg_dl: float, who: Patient, when: str
    ) -> None:
        if who.sex not in ("female", "male") or who.age_years < 18:
            return  # CKD-EPI 2021 is for adults with a recorded sex; labs leave it out
        egfr = egfr_ckd_epi_2021(creatinine_mg_dl, who.age_years, who.sex, self._ckd_epi)
        value = round(egfr)
        unit = str(self._egfr["unit"])
        code = "L" if value < int(self._egfr["low"]) else "N"
        loinc = str(self._egfr["loinc"])
        coding = {"system": LOINC, "code": loinc, "display": self._displays[loinc]}
        concept: Json = {"coding": [coding], "text": draw.text(self._egfr["text"])}
        body: Json = {"valueQuantity": quantity(value, unit, "mL/min/1.73m2")}
        body["interpretation"] = flag(code)
        rec.observation("laboratory", concept, when, body)


def _rounded(value: float, decimals: int) -> float | int:
    """Round half away from zero; whole numbers are sent as integers (e.g. 42 g/L)."""
    scaled = math.floor(abs(value) * 10**decimals + 0.5) / 10**decimals
    out = math.copysign(scaled, value)
    return int(out) if decimals <= 0 else round(out, decimals)
