"""Pure clinical calculations. Coefficients come from knowledge data; nothing is rounded here."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "CkdEpi2021",
    "calcium_phosphate_product",
    "corrected_calcium_mg_dl",
    "egfr_ckd_epi_2021",
]


def corrected_calcium_mg_dl(
    calcium_mg_dl: float,
    albumin_g_dl: float,
    *,
    factor: float,
    reference_albumin_g_dl: float,
) -> float:
    """Albumin-corrected total calcium (Payne 1973): Ca + factor × (reference − albumin)."""
    return calcium_mg_dl + factor * (reference_albumin_g_dl - albumin_g_dl)


def calcium_phosphate_product(calcium_mg_dl: float, phosphate_mg_dl: float) -> float:
    """Ca × PO4 in mg²/dL², the figure precipitation thresholds are quoted in."""
    return calcium_mg_dl * phosphate_mg_dl


@dataclass(frozen=True)
class CkdEpi2021:
    """Coefficients of the race-free CKD-EPI 2021 creatinine equation (Inker 2021)."""

    scale: float
    kappa_female: float
    kappa_male: float
    alpha_female: float
    alpha_male: float
    exponent_above: float
    age_base: float
    female_factor: float

    @classmethod
    def from_mapping(cls, data: Mapping[str, float]) -> CkdEpi2021:
        """Build from knowledge data; ValueError names any missing, unknown or non-finite key."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing, unknown = sorted(names - data.keys()), sorted(set(data.keys()) - names)
        if missing or unknown:
            raise ValueError(f"CKD-EPI 2021 coefficients: missing {missing}, unknown {unknown}")
        values: dict[str, float] = {}
        for name in sorted(names):
            raw = data[name]
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"CKD-EPI 2021 coefficient {name!r} is not a number: {raw!r}")
            if not math.isfinite(raw):
                raise ValueError(f"CKD-EPI 2021 coefficient {name!r} is not finite: {raw!r}")
            values[name] = float(raw)
        return cls(**values)


def egfr_ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: str, c: CkdEpi2021) -> float:
    """eGFR in mL/min/1.73 m² by race-free CKD-EPI 2021; adults only, sex 'female' or 'male'."""
    if sex == "female":
        kappa, alpha, sex_factor = c.kappa_female, c.alpha_female, c.female_factor
    elif sex == "male":
        kappa, alpha, sex_factor = c.kappa_male, c.alpha_male, 1.0
    else:
        raise ValueError(f"sex must be 'female' or 'male', got {sex!r}")
    if not age_years >= 18 or not math.isfinite(age_years):
        raise ValueError(f"CKD-EPI 2021 is for adults (age >= 18), got {age_years!r}")
    if not creatinine_mg_dl > 0 or not math.isfinite(creatinine_mg_dl):
        raise ValueError(f"creatinine must be a positive finite mg/dL, got {creatinine_mg_dl!r}")
    ratio = creatinine_mg_dl / kappa
    return (
        c.scale
        * math.pow(min(ratio, 1.0), alpha)
        * math.pow(max(ratio, 1.0), c.exponent_above)
        * math.pow(c.age_base, age_years)
        * sex_factor
    )
