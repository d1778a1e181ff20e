"""Calculations against hand-worked published examples (Payne 1973, Inker 2021)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcinosis.core.calculations import (
    CkdEpi2021,
    calcium_phosphate_product,
    corrected_calcium_mg_dl,
    egfr_ckd_epi_2021,
)

PAYNE = {"factor": 0.8, "reference_albumin_g_dl": 4.0}
COEFFICIENTS = {
    "scale": 142.0,
    "kappa_female": 0.7,
    "kappa_male": 0.9,
    "alpha_female": -0.241,
    "alpha_male": -0.302,
    "exponent_above": -1.200,
    "age_base": 0.9938,
    "female_factor": 1.012,
}
CKD = CkdEpi2021(**COEFFICIENTS)


# --- Payne ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calcium", "albumin", "expected"),
    [
        (8.0, 2.0, 9.6),  # 8.0 + 0.8 × 2.0
        (10.1, 3.8, 10.26),  # 10.1 + 0.8 × 0.2
        (9.3, 4.0, 9.3),  # reference albumin: unchanged
        (9.0, 4.5, 8.6),  # high albumin corrects downwards
    ],
)
def test_payne_corrected_calcium(calcium: float, albumin: float, expected: float) -> None:
    assert corrected_calcium_mg_dl(calcium, albumin, **PAYNE) == pytest.approx(expected, abs=1e-12)


def test_payne_uses_the_constants_passed_in() -> None:
    # SI-style constants would give a different answer: nothing is hard-coded.
    assert corrected_calcium_mg_dl(8.0, 2.0, factor=1.0, reference_albumin_g_dl=4.5) == 10.5


def test_payne_constants_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        corrected_calcium_mg_dl(8.0, 2.0, 0.8, 4.0)  # type: ignore[call-arg]


# --- Ca × P ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calcium", "phosphate", "product"), [(10.0, 7.0, 70.0), (9.5, 4.2, 39.9), (11.0, 5.0, 55.0)]
)
def test_calcium_phosphate_product(calcium: float, phosphate: float, product: float) -> None:
    assert calcium_phosphate_product(calcium, phosphate) == pytest.approx(product, rel=1e-12)


# --- CKD-EPI 2021 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("creatinine", "age", "sex", "expected"),
    [
        (0.8, 24, "female", 105.5),  # above κ: 142 × (0.8/0.7)^-1.2 × 0.9938^24 × 1.012
        (1.0, 50, "male", 91.7),  # 142 × (1.0/0.9)^-1.2 × 0.9938^50
        (2.5, 70, "female", 20.2),
        (0.5, 30, "female", 129.3),  # below κ: 142 × (0.5/0.7)^-0.241 × 0.9938^30 × 1.012
        (0.7, 40, "male", 119.5),  # below κ: 142 × (0.7/0.9)^-0.302 × 0.9938^40
    ],
)
def test_ckd_epi_2021_reference_values(
    creatinine: float, age: float, sex: str, expected: float
) -> None:
    assert round(egfr_ckd_epi_2021(creatinine, age, sex, CKD), 1) == expected


def test_ckd_epi_at_kappa_is_scale_times_age_term() -> None:
    assert egfr_ckd_epi_2021(0.9, 18, "male", CKD) == pytest.approx(142 * 0.9938**18, rel=1e-12)


def test_ckd_epi_rejects_bad_sex_age_and_creatinine() -> None:
    with pytest.raises(ValueError, match="sex"):
        egfr_ckd_epi_2021(1.0, 50, "F", CKD)
    with pytest.raises(ValueError, match="adults"):
        egfr_ckd_epi_2021(1.0, 17.9, "male", CKD)
    with pytest.raises(ValueError, match="adults"):
        egfr_ckd_epi_2021(1.0, float("nan"), "male", CKD)
    with pytest.raises(ValueError, match="creatinine"):
        egfr_ckd_epi_2021(0.0, 50, "male", CKD)


def test_from_mapping_round_trip_and_frozen() -> None:
    c = CkdEpi2021.from_mapping(COEFFICIENTS)
    assert c == CKD
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.scale = 1.0  # type: ignore[misc]


def test_from_mapping_rejects_missing_and_unknown_keys() -> None:
    missing = {k: v for k, v in COEFFICIENTS.items() if k != "age_base"}
    with pytest.raises(ValueError, match="age_base"):
        CkdEpi2021.from_mapping(missing)
    with pytest.raises(ValueError, match="race_factor"):
        CkdEpi2021.from_mapping({**COEFFICIENTS, "race_factor": 1.159})
    with pytest.raises(ValueError, match="scale"):
        CkdEpi2021.from_mapping({**COEFFICIENTS, "scale": float("nan")})


sexes = st.sampled_from(["female", "male"])
ages = st.floats(min_value=18, max_value=110)
creatinines = st.floats(min_value=0.1, max_value=20)


@given(sex=sexes, age=ages, scr=creatinines, step=st.floats(min_value=1e-3, max_value=10))
def test_egfr_falls_as_creatinine_rises(sex: str, age: float, scr: float, step: float) -> None:
    assert egfr_ckd_epi_2021(scr + step, age, sex, CKD) < egfr_ckd_epi_2021(scr, age, sex, CKD)


@given(sex=sexes, age=ages, scr=creatinines, step=st.floats(min_value=1e-2, max_value=50))
def test_egfr_falls_with_age(sex: str, age: float, scr: float, step: float) -> None:
    assert egfr_ckd_epi_2021(scr, age + step, sex, CKD) < egfr_ckd_epi_2021(scr, age, sex, CKD)
