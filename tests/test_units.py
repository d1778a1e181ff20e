"""UCUM conversions: expected values are worked by hand from molar masses and UCUM definitions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcinosis.core import units
from calcinosis.core.units import UnitConverter, convert_duration_to_days
from calcinosis.errors import UnitError

# Molar masses (g/mol) as the knowledge data supplies them.
CALCIUM, PHOSPHORUS, CREATININE, PTH, VITAMIN_D_25 = 40.078, 30.974, 113.12, 9425.0, 400.64
ALIASES = {"µmol/L": "umol/L", "μmol/L": "umol/L", "mmol/l": "mmol/L"}


@pytest.fixture(scope="module")
def uc() -> UnitConverter:
    return UnitConverter(ALIASES)


# --- same dimension -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "target", "expected"),
    [
        (3.8, "g/dL", "g/L", 38.0),  # 1 dL = 0.1 L
        (38.0, "g/L", "g/dL", 3.8),
        (1.0, "mg/dL", "mg/L", 10.0),
        (1.0, "mmol/L", "umol/L", 1000.0),
        (1.0, "pg/mL", "ng/L", 1.0),
        (1.0, "mg", "g", 0.001),
        (1.0, "Mg", "g", 1_000_000.0),  # UCUM is case-sensitive: Mg is a megagram
        (50.0, "%", "1", 0.5),
    ],
)
def test_same_dimension_scales(
    uc: UnitConverter, value: float, unit: str, target: str, expected: float
) -> None:
    assert uc.convert(value, unit, target) == pytest.approx(expected, rel=1e-12)


def test_egfr_unit_with_annotation_converts_to_itself(uc: UnitConverter) -> None:
    assert uc.convert(73.0, "mL/min/{1.73_m2}", "mL/min/{1.73_m2}") == 73.0
    assert uc.canonical("mL/min/{1.73_m2}") == "mL/min/{1.73_m2}"
    assert uc.is_convertible(" mL/min/{1.73_m2}", "mL/min/{1.73_m2}")


# --- mass <-> substance concentration -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "target", "molar_mass", "expected"),
    [
        # mg/dL -> mmol/L: x mg/dL = 10x mg/L = 10x / M mmol/L
        (9.6, "mg/dL", "mmol/L", CALCIUM, 96.0 / 40.078),  # 2.3953
        (3.1, "mg/dL", "mmol/L", PHOSPHORUS, 31.0 / 30.974),  # 1.0008
        # 1 mg/dL = 10 mg/L = 10/113.12 mmol/L = 10000/113.12 umol/L
        (1.0, "mg/dL", "umol/L", CREATININE, 10_000.0 / 113.12),  # 88.40
        # 1 pg/mL = 1 ng/L = 1/9425 nmol/L = 1000/9425 pmol/L
        (94.25, "pg/mL", "pmol/L", PTH, 10.0),
        # 1 ng/mL = 1 ug/L = 1/400.64 umol/L = 1000/400.64 nmol/L
        (1.0, "ng/mL", "nmol/L", VITAMIN_D_25, 1000.0 / 400.64),  # 2.496
        (2.5, "mmol/L", "mg/dL", CALCIUM, 2.5 * 40.078 / 10.0),  # 10.02
    ],
)
def test_mass_substance_with_molar_mass(
    uc: UnitConverter,
    value: float,
    unit: str,
    target: str,
    molar_mass: float,
    expected: float,
) -> None:
    assert uc.convert(value, unit, target, molar_mass) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("unit", "target", "molar_mass", "published_factor"),
    [
        ("mg/dL", "mmol/L", CALCIUM, 1 / 4.008),
        ("mg/dL", "mmol/L", PHOSPHORUS, 0.3229),
        ("mg/dL", "umol/L", CREATININE, 88.4),
        ("pg/mL", "pmol/L", PTH, 1 / 9.43),
        ("ng/mL", "nmol/L", VITAMIN_D_25, 2.496),
    ],
)
def test_agrees_with_published_lab_factors(
    uc: UnitConverter, unit: str, target: str, molar_mass: float, published_factor: float
) -> None:
    assert uc.convert(1.0, unit, target, molar_mass) == pytest.approx(published_factor, rel=1e-3)


def test_molar_mass_ignored_when_dimensions_already_match(uc: UnitConverter) -> None:
    assert uc.convert(4.0, "g/dL", "g/L", CALCIUM) == pytest.approx(40.0, rel=1e-12)


def test_mass_substance_without_molar_mass_is_refused(uc: UnitConverter) -> None:
    with pytest.raises(UnitError, match="molar mass") as info:
        uc.convert(9.6, "mg/dL", "mmol/L")
    assert "'mg/dL'" in info.value.message and "'mmol/L'" in info.value.message
    assert not uc.is_convertible("mg/dL", "mmol/L")
    assert uc.is_convertible("mg/dL", "mmol/L", CALCIUM)


@pytest.mark.parametrize("bad", [0.0, -40.0, float("nan"), float("inf")])
def test_bad_molar_mass_is_a_caller_error(uc: UnitConverter, bad: float) -> None:
    with pytest.raises(ValueError, match="molar mass"):
        uc.convert(1.0, "mg/dL", "mmol/L", bad)


# --- refusals -------------------------------------------------------------------------------


def test_mass_to_mass_concentration_is_refused_naming_both_units(uc: UnitConverter) -> None:
    with pytest.raises(UnitError) as info:
        uc.convert(5.0, "mg", "mg/dL", CALCIUM)
    assert "'mg'" in info.value.message and "'mg/dL'" in info.value.message
    assert "dimensions differ" in info.value.message
    assert info.value.code == "unit-error"


@pytest.mark.parametrize("unit", ["", "   ", "furlongs", "{titer}", "µMOL/L", "7.B"])
def test_invalid_units_are_refused(uc: UnitConverter, unit: str) -> None:
    with pytest.raises(UnitError) as info:
        uc.canonical(unit)
    assert unit.strip() in info.value.message
    with pytest.raises(UnitError):
        uc.convert(1.0, unit, "mg/dL")
    assert not uc.is_convertible("mg/dL", unit)


def test_titer_is_annotation_only(uc: UnitConverter) -> None:
    with pytest.raises(UnitError, match="annotation"):
        uc.convert(80.0, "{titer}", "1")


def test_unrelated_dimensions_are_refused(uc: UnitConverter) -> None:
    with pytest.raises(UnitError):
        uc.convert(1.0, "U/L", "mmol/L", CALCIUM)
    with pytest.raises(UnitError):
        uc.convert(37.0, "Cel", "[degF]")  # offset units: not a multiplicative factor


# --- aliases, case, fast path, caching -----------------------------------------------------


@pytest.mark.parametrize("alias", ["µmol/L", "μmol/L"])
def test_micro_sign_aliases(uc: UnitConverter, alias: str) -> None:
    assert uc.canonical(alias) == "umol/L"
    assert uc.convert(88.4, alias, "mg/dL", CREATININE) == pytest.approx(
        88.4 * 113.12 / 10_000.0, rel=1e-12
    )


def test_aliases_are_exact_not_case_folded() -> None:
    plain = UnitConverter({})
    assert plain.canonical("mg") == "mg"
    assert plain.canonical("Mg") == "Mg"
    assert plain.convert(1.0, "Mg", "mg") == pytest.approx(1e9, rel=1e-12)
    with pytest.raises(UnitError):
        plain.canonical("µmol/L")  # only the explicit alias map admits the micro sign


def test_identical_units_never_touch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> Any:
        raise AssertionError("registry touched")

    monkeypatch.setattr(units, "_registry", boom)
    assert UnitConverter({}).convert(7.25, "mg/dL", "mg/dL") == 7.25


def test_factors_are_cached(uc: UnitConverter) -> None:
    uc.convert(1.0, "g/dL", "g/L")
    before = units._factor.cache_info()
    # the converter remembers its own plan: the factor is neither recomputed nor looked up again
    assert uc.convert(2.0, "g/dL", "g/L") == pytest.approx(20.0)
    assert units._factor.cache_info() == before
    # another converter shares the process-wide factor cache
    assert UnitConverter({}).convert(3.0, "g/dL", "g/L") == pytest.approx(30.0)
    assert units._factor.cache_info().hits == before.hits + 1
    assert units._factor.cache_info().misses == before.misses
    assert units._registry() is units._registry()


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "days"),
    [(1.0, "a", 365.25), (2.0, "mo", 60.875), (3.0, "wk", 21.0), (4.0, "d", 4.0), (36.0, "h", 1.5)],
)
def test_durations_to_days(value: float, unit: str, days: float) -> None:
    assert convert_duration_to_days(value, unit) == pytest.approx(days, rel=1e-12)
    assert UnitConverter({}).convert_duration_to_days(value, unit) == pytest.approx(days)


@pytest.mark.parametrize("unit", ["mg", "mg/dL", "", "furlongs", "{titer}"])
def test_non_durations_are_refused(unit: str) -> None:
    with pytest.raises(UnitError):
        convert_duration_to_days(1.0, unit)


# --- round trips ----------------------------------------------------------------------------

ROUND_TRIPS = [
    ("mg/dL", "mmol/L", CALCIUM),
    ("mg/dL", "mmol/L", PHOSPHORUS),
    ("g/dL", "g/L", None),
    ("mg/dL", "umol/L", CREATININE),
    ("pg/mL", "pmol/L", PTH),
    ("ng/mL", "nmol/L", VITAMIN_D_25),
]


@settings(max_examples=300, deadline=None)
@given(
    value=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
    pair=st.sampled_from(ROUND_TRIPS),
)
def test_round_trip_returns_input(value: float, pair: tuple[str, str, float | None]) -> None:
    unit, target, molar_mass = pair
    uc = UnitConverter(ALIASES)
    there = uc.convert(value, unit, target, molar_mass)
    assert there != pytest.approx(value, rel=1e-3)  # every pair really rescales
    back = uc.convert(there, target, unit, molar_mass)
    assert back == pytest.approx(value, rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="mgdLlM0123456789./*{}[]_-%µ aBz", max_size=10))
def test_arbitrary_text_is_either_ucum_or_unit_error(text: str) -> None:
    uc = UnitConverter(ALIASES)
    try:
        code = uc.canonical(text)
    except UnitError as exc:
        assert exc.code == "unit-error"
    else:
        assert code == text.strip()  # no alias in this alphabet maps; nothing is case-folded


def test_refusals_are_cached_too(uc: UnitConverter) -> None:
    with pytest.raises(UnitError):
        uc.convert(9.4, "mg", "mg/dL")
    before = units._factor.cache_info()
    with pytest.raises(UnitError, match="'mg'"):
        uc.convert(9.4, "mg", "mg/dL")
    assert units._factor.cache_info() == before  # the converter remembered the refusal
    with pytest.raises(UnitError, match="'mg'"):
        UnitConverter({}).convert(9.4, "mg", "mg/dL")
    assert units._factor.cache_info().hits == before.hits + 1
    assert units._factor.cache_info().misses == before.misses
