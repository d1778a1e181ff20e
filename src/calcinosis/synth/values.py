"""The small value language of profiles.yaml: choices, ranges, maybe-fields and variables.

    {choice: [a, b]}      one item, uniformly          {range: [lo, hi]}   an integer lo..hi
    {uniform: [lo, hi]}   a float (`decimals`, 1)      {p: 0.3, value: X}  X or nothing
    "$name"               a variable, any type         "text {name}"       text with variables

Everything is drawn from the patient's own random generator, in document order, so the same
seed and patient index always give the same patient.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping
from typing import Any, Final

from calcinosis.synth.errors import SpecError


class _Missing:
    """The value of a field whose `p` said no: the field is left out."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
_FORMATTER = string.Formatter()
_OPERATORS = frozenset({"choice", "range", "uniform", "p"})


def is_operator(value: Any) -> bool:
    """True for a mapping that is a value-language expression rather than a plain mapping."""
    return isinstance(value, Mapping) and bool(_OPERATORS & set(value))


class Draw:
    """Resolves value-language expressions with one patient's generator and variables."""

    def __init__(self, rng: random.Random, variables: dict[str, Any]) -> None:
        self.rng = rng
        self.vars = variables

    def value(self, spec: Any) -> Any:
        """The drawn value of `spec`, or MISSING when a `p` said no."""
        kind = type(spec)  # YAML gives plain str, list and dict: cheaper than isinstance
        if kind is str:
            return self._string(spec)
        if kind is list:
            out = [self.value(item) for item in spec]
            return [item for item in out if item is not MISSING]
        if kind is dict or isinstance(spec, Mapping):
            if "choice" in spec:
                options = spec["choice"]
                return self.value(options[self.rng.randrange(len(options))])
            if "range" in spec:
                low, high = spec["range"]
                return self.rng.randint(int(self.value(low)), int(self.value(high)))
            if "uniform" in spec:
                low, high = spec["uniform"]
                return round(self.rng.uniform(low, high), int(spec.get("decimals", 1)))
            if "p" in spec:
                if self.rng.random() >= float(spec["p"]):
                    return MISSING
                return self.value(spec.get("value", True))
            out_map = {key: self.value(item) for key, item in spec.items()}
            return {key: item for key, item in out_map.items() if item is not MISSING}
        return spec

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.rng.random() < probability

    def text(self, spec: Any) -> str:
        """A drawn value that must be text."""
        value = self.value(spec)
        if not isinstance(value, str):
            raise SpecError(f"expected text, got {value!r} from {spec!r}")
        return value

    def _string(self, spec: str) -> Any:
        if spec.startswith("$"):
            name = spec[1:]
            if name not in self.vars:
                raise SpecError(f"unknown variable {spec!r}")
            return self.vars[name]
        if "{" not in spec:
            return spec
        try:
            return _FORMATTER.vformat(spec, (), self.vars)
        except (KeyError, IndexError, ValueError) as exc:
            raise SpecError(f"cannot fill in {spec[:60]!r}: {exc}") from None
