"""UCUM unit handling for lab values, on ucumvert's pint registry.

The registry costs ~0.9 s to build, so it is built lazily once; conversion factors are cached per
(unit, target, molar mass), so a warm conversion is one dict lookup and one multiplication.
Molar masses and spelling aliases come from the caller (knowledge data), never from this module.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from calcinosis.errors import UnitError

__all__ = ["UnitConverter", "convert_duration_to_days"]

_lock = threading.RLock()
_PLAN_CACHE_SIZE = 4096
_PLAN_MAX_CHARS = 64  # longer "units" are junk: refused afresh rather than remembered
_registry_box: list[Any] = []


def _registry() -> Any:
    """The one PintUcumRegistry, built on first use (import stays cheap)."""
    if not _registry_box:
        with _lock:
            if not _registry_box:
                from ucumvert import PintUcumRegistry

                _registry_box.append(PintUcumRegistry())
    return _registry_box[0]


def _quantity(unit: str) -> Any:
    """Parse one UCUM code to a pint Quantity, or raise UnitError naming it."""
    if not unit:
        raise UnitError("empty unit: a UCUM unit code is required")
    import pint

    try:
        q = _registry().from_ucum(unit)
    except Exception as exc:  # ucumvert leaks lark errors besides InvalidUcumError
        raise UnitError(f"'{unit}' is not a valid UCUM unit") from exc
    if not isinstance(q, pint.Quantity):  # annotation-only units such as "{titer}"
        raise UnitError(f"'{unit}' has no convertible dimension (annotation only)")
    return q


def _check(unit: str) -> None:
    """Validate a UCUM code; the verdict, a refusal included, is parsed once and cached."""
    refusal = _check_outcome(unit)
    if refusal is not None:
        raise UnitError(refusal)


@functools.lru_cache(maxsize=1024)
def _check_outcome(unit: str) -> str | None:
    try:
        with _lock:
            _quantity(unit)
    except UnitError as exc:
        return exc.message
    return None


def _convert_factor(unit: str, target: str, molar_mass: float | None) -> float:
    """The cached factor, or the cached refusal raised again (a bad unit costs one parse)."""
    outcome = _factor(unit, target, molar_mass)
    if isinstance(outcome, str):
        raise UnitError(outcome)
    return outcome


@functools.lru_cache(maxsize=1024)
def _factor(unit: str, target: str, molar_mass: float | None) -> float | str:
    """Factor taking a value in `unit` to `target` (molar mass in g/mol), or why it cannot."""
    try:
        return _compute_factor(unit, target, molar_mass)
    except UnitError as exc:
        return exc.message


def _compute_factor(unit: str, target: str, molar_mass: float | None) -> float:
    import pint

    with _lock:
        source, dest = _quantity(unit), _quantity(target)
        try:
            ratio = source / dest
            if not ratio.dimensionless and molar_mass is not None:
                per_mol = _registry().from_ucum("g/mol") * molar_mass
                if (ratio / per_mol).dimensionless:
                    ratio = ratio / per_mol
                elif (ratio * per_mol).dimensionless:
                    ratio = ratio * per_mol
            if not ratio.dimensionless:
                why = f"dimensions differ ({source.dimensionality} vs {dest.dimensionality})"
                if molar_mass is None and _mass_substance(ratio):
                    why += "; mass <-> substance concentration needs a molar mass"
                raise UnitError(f"cannot convert '{unit}' to '{target}': {why}")
            factor = float(ratio.to("dimensionless").magnitude)
        except (pint.errors.PintError, OverflowError, ZeroDivisionError) as exc:
            raise UnitError(f"cannot convert '{unit}' to '{target}': {exc}") from exc
    if not math.isfinite(factor) or factor <= 0.0:
        raise UnitError(f"cannot convert '{unit}' to '{target}': factor out of range")
    return factor


def _mass_substance(ratio: Any) -> bool:
    """True when two units differ only by mass versus amount of substance."""
    dims = dict(ratio.dimensionality)
    return dims in ({"[mass]": 1, "[substance]": -1}, {"[mass]": -1, "[substance]": 1})


def _molar(molar_mass_g_per_mol: float | None) -> float | None:
    """Validate a caller-supplied molar mass; a bad one is a knowledge bug, not a unit error."""
    if molar_mass_g_per_mol is None:
        return None
    mm = float(molar_mass_g_per_mol)
    if not math.isfinite(mm) or mm <= 0.0:
        raise ValueError(f"molar mass must be a positive finite number, got {mm!r}")
    return mm


def convert_duration_to_days(value: float, unit: str) -> float:
    """Convert a UCUM duration (a, mo, wk, d, h, min, s) to days; a = 365.25 d, mo = a/12."""
    unit = unit.strip()
    if unit == "d":
        return float(value)
    try:
        return float(value) * _convert_factor(unit, "d", None)
    except UnitError as exc:
        raise UnitError(f"'{unit}' is not a UCUM duration: {exc.message}") from exc


class UnitConverter:
    """Converts lab values between UCUM units, accepting a few known non-UCUM spellings."""

    def __init__(self, spelling_aliases: Mapping[str, str]) -> None:
        self._aliases: Mapping[str, str] = MappingProxyType(dict(spelling_aliases))
        # (unit, target, molar mass) -> factor, None (the same unit) or why it cannot convert;
        # labs repeat a handful of units, so a warm conversion is one lookup
        self._plans: dict[tuple[str, str, float | None], float | str | None] = {}

    def clear_cache(self) -> None:
        """Forget remembered conversion plans (for measuring the cold path)."""
        self._plans.clear()

    def canonical(self, unit: str) -> str:
        """Alias-mapped UCUM code; UnitError if empty or not UCUM. Case is never folded."""
        code = unit.strip()
        code = self._aliases.get(code, code)
        _check(code)
        return code

    def convert(
        self,
        value: float,
        unit: str,
        target: str,
        molar_mass_g_per_mol: float | None = None,
    ) -> float:
        """Convert `value` from `unit` to `target`; mass <-> substance needs a molar mass."""
        if unit == target:  # fast path: no parsing, no registry
            if not unit:
                raise UnitError("empty unit: a UCUM unit code is required")
            return float(value)
        key = (unit, target, molar_mass_g_per_mol)
        try:
            plan = self._plans[key]
        except (KeyError, TypeError):  # TypeError: an unhashable argument, not remembered
            plan = self._plan(unit, target, molar_mass_g_per_mol)
            if len(self._plans) < _PLAN_CACHE_SIZE and len(unit) <= _PLAN_MAX_CHARS:
                with contextlib.suppress(TypeError):
                    self._plans[key] = plan
        if plan is None:
            return float(value)
        if isinstance(plan, str):
            raise UnitError(plan)
        return float(value) * plan

    def _plan(self, unit: str, target: str, molar_mass: float | None) -> float | str | None:
        try:
            source, dest = self.canonical(unit), self.canonical(target)
            if source == dest:
                return None
            # a bad molar mass is a knowledge bug: its ValueError propagates, never remembered
            return _convert_factor(source, dest, _molar(molar_mass))
        except UnitError as exc:
            return exc.message

    def is_convertible(self, unit: str, target: str, molar_mass: float | None = None) -> bool:
        """True when `convert` would succeed for these units (and molar mass)."""
        try:
            self.convert(1.0, unit, target, molar_mass)
        except UnitError:
            return False
        return True

    def convert_duration_to_days(self, value: float, unit: str) -> float:
        """Alias-aware form of the module-level `convert_duration_to_days`."""
        return convert_duration_to_days(value, self.canonical(unit))
