"""Corrected calcium, calcium x phosphate product and eGFR, each with its inputs as basis."""

from __future__ import annotations

from calcinosis.core import calculations as calc
from calcinosis.core.assessment import Basis, Finding, Statement
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules.signals import Evidence


def calculate(ev: Evidence, kb: Knowledge) -> None:
    """Adds the calculation statements and calc:* signals to the evidence."""
    ca = ev.latest.get("calcium")
    alb = ev.latest.get("albumin")
    po4 = ev.latest.get("phosphate")
    cr = ev.latest.get("creatinine")
    ca_value = ca.value if ca is not None else None
    if ca is not None and ca_value is not None and alb is not None and alb.value is not None:
        corrected = calc.corrected_calcium_mg_dl(
            ca_value,
            alb.value,
            factor=kb.payne["factor"],
            reference_albumin_g_dl=kb.payne["reference_albumin_g_dl"],
        )
        ev.calc_values["corrected-calcium"] = corrected
        high = ca.high if ca.high is not None else kb.analytes["calcium"].high
        # children's limits differ: judge them only against the report's own range
        if (
            high is not None
            and corrected > high
            and (ca.high is not None or not ev.has("age:child"))
        ):
            ev.add("calc:corrected-calcium-high", ca.finding, alb.finding)
        calcium = kb.analytes["calcium"]
        unit = str(calcium.unit)
        in_mmol = kb.units.convert(corrected, unit, "mmol/L", calcium.molar_mass)
        _add(
            ev,
            "corrected-calcium",
            round(corrected, 1),
            unit,
            f"Albumin-corrected calcium {corrected:.1f} mg/dL ({in_mmol:.2f} mmol/L) "
            f"from calcium {ca_value:.1f} mg/dL and albumin {alb.value:.1f} g/dL (Payne: Ca + "
            f"{kb.payne['factor']} x ({kb.payne['reference_albumin_g_dl']} - albumin))",
            (ca.finding, alb.finding),
            "calculation.payne",
            _cites(kb, "calculation.payne", kb.calculation_citations["payne"]),
        )
    if ca is not None and ca_value is not None and po4 is not None and po4.value is not None:
        product = calc.calcium_phosphate_product(ca_value, po4.value)
        ev.calc_values["calcium-phosphate-product"] = product
        ev.add("calc:ca-p-known", ca.finding, po4.finding)
        precip = kb.thresholds["ca-p-product-precipitation"]
        target = kb.thresholds["ca-p-product-target"]
        if product > precip.value:
            ev.add("calc:ca-p-above-precipitation", ca.finding, po4.finding)
        if product > target.value:
            ev.add("calc:ca-p-above-target", ca.finding, po4.finding)
        extra = ""
        if "corrected-calcium" in ev.calc_values:
            extra = (
                f"; {ev.calc_values['corrected-calcium'] * po4.value:.1f} with corrected calcium"
            )
        verdict = (
            f"above the {precip.value:g} mg2/dL2 precipitation threshold"
            if product > precip.value
            else (
                f"above the {target.value:g} mg2/dL2 target"
                if product > target.value
                else f"below the {target.value:g} mg2/dL2 target"
            )
        )
        _add(
            ev,
            "calcium-phosphate-product",
            round(product, 1),
            "mg2/dL2",
            f"Calcium x phosphate product {product:.1f} mg2/dL2 ({verdict}){extra}",
            (ca.finding, po4.finding),
            "calculation.calcium-phosphate-product",
            _cites(kb, "calculation.calcium-phosphate-product", precip.citations, target.citations),
        )
    egfr_lab = ev.latest.get("egfr")
    egfr_value: float | None = egfr_lab.value if egfr_lab is not None else None
    egfr_findings: tuple[Finding, ...] = (egfr_lab.finding,) if egfr_lab else ()
    age = ev.age_years
    sex = next((x[4:] for x in ev.signals if x.startswith("sex:")), "unknown")
    if (
        cr is not None
        and cr.value is not None
        and age is not None
        and age >= kb.threshold("adult-age")
        and sex in ("female", "male")
    ):
        egfr = calc.egfr_ckd_epi_2021(cr.value, age, sex, kb.ckd_epi)
        ev.calc_values["egfr-ckd-epi-2021"] = egfr
        _add(
            ev,
            "egfr-ckd-epi-2021",
            round(egfr, 1),
            "mL/min/{1.73_m2}",
            f"eGFR {egfr:.0f} mL/min/1.73 m2 (CKD-EPI 2021, race-free) from creatinine "
            f"{cr.value:.2f} mg/dL, age {int(age)}, {sex}",
            (cr.finding,),
            "calculation.ckd-epi-2021",
            _cites(kb, "calculation.ckd-epi-2021", kb.calculation_citations["ckd-epi-2021"]),
        )
        egfr_value, egfr_findings = egfr, (cr.finding,)
    if egfr_value is not None:
        if egfr_value < kb.threshold("egfr-kidney-failure"):
            ev.add("calc:egfr-kidney-failure", *egfr_findings)
        if egfr_value < kb.threshold("egfr-reduced"):
            ev.add("calc:egfr-reduced", *egfr_findings)


def _cites(kb: Knowledge, rule: str, *sources: tuple[str, ...]) -> tuple[str, ...]:
    """The calculation rule's citations, then those of the coefficients and thresholds used."""
    return tuple(dict.fromkeys(c for group in (kb.rules[rule].citations, *sources) for c in group))


def _add(
    ev: Evidence,
    cid: str,
    value: float,
    unit: str,
    summary: str,
    findings: tuple[Finding, ...],
    rule: str,
    citations: tuple[str, ...],
) -> None:
    ev.calculations.append(
        Statement(
            id=cid,
            summary=summary,
            basis=Basis(findings, (rule,), citations),
            extra=(("value", value), ("unit", unit)),
        )
    )
