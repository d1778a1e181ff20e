"""One synthetic patient: pick a profile, draw the picture, build its FHIR resources.

Everything comes from the patient's own generator (seeded by export seed and patient index), so
a patient is the same whichever shard, worker or run writes it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from calcinosis.synth import dates
from calcinosis.synth.build import Json, Record
from calcinosis.synth.errors import SpecError
from calcinosis.synth.ids import IdMaker, patient_rng
from calcinosis.synth.labs import Labs
from calcinosis.synth.labs import Patient as LabPatient
from calcinosis.synth.spec import ITEM_KINDS, PER_MILLION, Profile, Spec, Variant
from calcinosis.synth.values import MISSING, Draw


@dataclass(frozen=True)
class Synthetic:
    """A generated patient: the resources (Patient first) and the planted truth."""

    patient_id: str
    profile: Profile
    resources: list[Json]


@dataclass
class _Ctx:
    rec: Record
    draw: Draw
    birth: dt.date
    lab_patient: LabPatient


class Generator:
    """Builds the patients of one export (one seed, one as-of date, one mix)."""

    def __init__(self, spec: Spec, *, seed: int, as_of: dt.date, mix: str) -> None:
        if mix not in spec.mixes:
            raise SpecError(f"unknown mix {mix!r}; choose one of {', '.join(spec.mixes)}")
        self.spec = spec
        self.seed = seed
        self.as_of = as_of
        self.ids = IdMaker(seed)
        self.labs = Labs(spec)
        table = [(name, n) for name, n in spec.mixes[mix] if n > 0]
        self._profiles = [spec.profiles[name] for name, _ in table]
        self._cuts: list[int] = []
        total = 0
        for _, n in table:
            total += n
            self._cuts.append(total)
        data = spec.data
        self._d: Mapping[str, Any] = data["defaults"]
        self._bands: Sequence[Sequence[int]] = data["age_bands"]
        self._band_cuts = _cumulative([float(b[2]) for b in self._bands])
        self._chronic: Mapping[str, Any] = data["chronic"]
        self._bg: Mapping[str, Any] = data["background"]
        self._icd: Mapping[str, str] = data["codes"]["icd10cm"]
        self._rx: Mapping[str, str] = data["codes"]["rxnorm"]

    def patient(self, index: int) -> Synthetic:
        """Patient number `index` of the export."""
        rng = patient_rng(self.seed, index)
        profile = self._profiles[bisect.bisect_right(self._cuts, rng.random() * PER_MILLION)]
        variant = _weighted(rng, profile.variants, [v.weight for v in profile.variants])
        sex = "female" if rng.random() < profile.female else "male"
        birth, age = self._birth(rng, variant)
        rec = Record(self.ids, index, self.as_of)
        draw = Draw(rng, {})
        if profile.ordinary and draw.chance(float(self._d["unknown_sex_share"])):
            sex = "unknown"
        age_known = not (profile.ordinary and draw.chance(float(self._d["no_birthdate_share"])))
        rec.patient(sex, birth if age_known else None)
        draw.vars.update(_pronouns(sex, age))
        units = "si" if draw.chance(float(self._d["si_share"])) else "us"
        draw.vars.update(age=int(age), units=units)
        for name, value in variant.vars.items():
            draw.vars[name] = draw.value(value)
        sites = draw.vars.get("sites")
        if isinstance(sites, list):
            draw.vars["sites_text"] = ", ".join(sites)
            draw.vars["sites_prose"] = _prose(sites)
        ctx = _Ctx(rec, draw, birth, LabPatient(age, sex, units))
        self._background(ctx, profile)
        for item in variant.items:
            self._item(ctx, item)
        return Synthetic(rec.patient_id, profile, rec.resources)

    # ------------------------------------------------------------------ who
    def _birth(self, rng: random.Random, v: Variant) -> tuple[dt.date, float]:
        if v.age_days is not None:
            days = rng.randint(*v.age_days)
            return self.as_of - dt.timedelta(days=days), days / 365.25
        if v.age is not None:
            years = rng.randint(*v.age)
        else:
            band = self._bands[bisect.bisect_right(self._band_cuts, rng.random())]
            years = rng.randint(int(band[0]), int(band[1]))
        birth = dates.years_before(self.as_of, years) - dt.timedelta(days=rng.randint(0, 364))
        return birth, float(years)

    # ------------------------------------------------------------------ background
    def _background(self, ctx: _Ctx, profile: Profile) -> None:
        draw, bg = ctx.draw, self._bg
        if profile.ordinary and draw.chance(float(bg["empty_share"])):
            return
        if profile.background != "none":
            age = ctx.lab_patient.age_years
            for entry in self._chronic.values():
                if profile.background == "benign" and not entry["benign"]:
                    continue
                if draw.chance(_prevalence(entry["prevalence"], age)):
                    self._chronic_condition(ctx, entry)
        if not profile.ordinary:
            return
        adult = ctx.lab_patient.age_years >= 16
        routine = draw.value(self._d["routine_lab_days_ago"])
        if adult and draw.chance(float(bg["routine_panel_share"])):
            self._panel(ctx, "renal-routine", int(routine))
        if adult and draw.chance(float(bg["bone_panel_share"])):
            self._panel(ctx, "bone-routine", int(routine))
        if adult and draw.chance(float(bg["text_lab_share"])):
            name = draw.value({"choice": ["haemoglobin", "cholesterol", "tsh"]})
            self.labs.text_lab(ctx.rec, draw, str(name), "normal", int(routine))
        if draw.chance(float(bg["note_share"])):
            note = draw.value({"choice": list(bg["notes"])})
            self._note(ctx, note)

    def _chronic_condition(self, ctx: _Ctx, entry: Mapping[str, Any]) -> None:
        draw = ctx.draw
        condition = draw.value(entry["condition"])
        onset = self._condition(ctx, condition)
        for text in entry.get("medicines") or []:
            drawn = draw.value(text)
            if drawn is MISSING:
                continue
            start = dates.between(draw.rng, onset or ctx.birth, self.as_of)
            med: dict[str, Any] = {"text": drawn, "status": "active", "start": start.isoformat()}
            med["response"] = "not-applicable"
            if draw.chance(float(self._d["request_share"])):
                med.update(kind="request", dosage="As directed")
            ctx.rec.medication(med, self._rx)
        if "medication" in entry:
            fragment = self.spec.fragment("medication", entry["medication"])
            self._medication(ctx, draw.value(dict(fragment)))
        days = int(draw.value(self._d["routine_lab_days_ago"]))
        if "panel" in entry:
            self._panel(ctx, str(entry["panel"]), days)
        if "text_lab" in entry:
            lab = entry["text_lab"]
            self.labs.text_lab(ctx.rec, draw, str(lab["name"]), str(lab["state"]), days)

    # ------------------------------------------------------------------ items
    def _item(self, ctx: _Ctx, item: Mapping[str, Any]) -> None:
        draw = ctx.draw
        if "p" in item and not draw.chance(float(item["p"])):
            return
        if "one_of" in item:
            options = item["one_of"]
            for sub in options[draw.rng.randrange(len(options))]:
                self._item(ctx, sub)
            return
        kind = next(k for k in item if k in ITEM_KINDS)
        ref = item[kind]
        if kind == "labs":
            days = int(draw.value(self._d["lab_days_ago"]))
            self._panel(ctx, ref, days)
            return
        drawn = draw.value(self._fragment(kind, ref, draw))
        if kind == "condition":
            self._condition(ctx, drawn)
        elif kind == "medication":
            self._medication(ctx, drawn)
        elif kind == "exam":
            ctx.rec.exam(drawn)
        elif kind == "histology":
            ctx.rec.histology(drawn)
        elif kind == "procedure":
            ctx.rec.procedure(drawn)
        elif kind == "imaging":
            ctx.rec.imaging(drawn)
        else:
            self._note(ctx, drawn)

    def _fragment(self, kind: str, ref: Any, draw: Draw) -> Mapping[str, Any]:
        """A fragment by name, a choice of names, or inline (optionally `from` a base)."""
        if isinstance(ref, Mapping) and set(ref) == {"choice"}:
            options = ref["choice"]
            return self._fragment(kind, options[draw.rng.randrange(len(options))], draw)
        raw = self.spec.fragment(kind, ref) if isinstance(ref, str) else ref
        if "from" in raw:
            base = self._fragment(kind, raw["from"], draw)
            return {**base, **{k: v for k, v in raw.items() if k != "from"}}
        return raw

    def _panel(self, ctx: _Ctx, ref: Any, days_ago: int) -> None:
        entries = self.spec.panel(ref) if isinstance(ref, str) else ref
        self.labs.panel(ctx.rec, ctx.draw, entries, ctx.lab_patient, days_ago)

    def _condition(self, ctx: _Ctx, c: Mapping[str, Any]) -> dt.date | None:
        onset_spec = c.get("onset") or {}
        out: dict[str, Any] = {k: v for k, v in c.items() if k != "onset"}
        onset = dates.onset(onset_spec, ctx.birth, self.as_of)
        if onset is not None:
            out["onset_date"] = onset.isoformat()
        elif "text" in onset_spec:
            out["onset_text"] = onset_spec["text"]
        days = ctx.draw.value({"range": self._d["condition_recorded_days"]})
        recorded = self.as_of - dt.timedelta(days=int(days))
        out["recorded"] = max(recorded, onset or ctx.birth).isoformat()
        ctx.rec.condition(out, self._icd)
        return onset

    def _medication(self, ctx: _Ctx, m: Mapping[str, Any]) -> None:
        out = dict(m)
        start = dates.start(m, ctx.birth, self.as_of)
        if start is not None:
            out["start"] = start.isoformat()
            end = dates.end(m, start, self.as_of)
            if end is not None:
                out["end"] = end.isoformat()
        ctx.rec.medication(out, self._rx)

    def _note(self, ctx: _Ctx, n: Mapping[str, Any]) -> None:
        draw = ctx.draw
        days = n.get("days_ago", draw.value({"range": self._d["note_days_ago"]}))
        ctx.rec.note(draw.text(n["title"]), draw.text(n["text"]), int(days))


def _weighted(rng: random.Random, items: Sequence[Variant], weights: Sequence[float]) -> Variant:
    if len(items) == 1:
        return items[0]
    return items[bisect.bisect_right(_cumulative(weights), rng.random())]


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    out, running = [], 0.0
    for w in weights:
        running += w / total
        out.append(running)
    out[-1] = 2.0  # guard against rounding: the last bucket takes everything left
    return out


def _prevalence(steps: Sequence[Sequence[float]], age: float) -> float:
    found = 0.0
    for start, probability in steps:
        if age >= start:
            found = float(probability)
    return found


def _pronouns(sex: str, age: float) -> dict[str, Any]:
    female = sex == "female"
    adult = age >= 18
    return {
        "he": "she" if female else "he",
        "his": "her" if female else "his",
        "him": "her" if female else "him",
        "man": ("woman" if female else "man") if adult else ("girl" if female else "boy"),
        "sex_letter": "F" if female else "M",
    }


def _prose(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
