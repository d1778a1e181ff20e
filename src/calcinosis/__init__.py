"""Calcinosis: clinical decision support for calcinosis cutis.

    import calcinosis
    result = calcinosis.assess_bundle(bundle_dict, as_of=datetime.date(2026, 1, 1))
    result.to_dict()

Importing this package loads only the functional core; the FHIR shell is imported when a
bundle is first assessed.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from calcinosis.core.assessment import Assessment
from calcinosis.core.knowledge import Knowledge, load_knowledge
from calcinosis.errors import CalcinosisError

__version__ = "0.1.0"

__all__ = [
    "Assessment",
    "CalcinosisError",
    "Knowledge",
    "__version__",
    "assess_bundle",
    "load_knowledge",
]


def assess_bundle(
    bundle: Mapping[str, Any],
    *,
    as_of: _dt.date | None = None,
    knowledge: Knowledge | None = None,
) -> Assessment:
    """Assess one patient's FHIR R4 Bundle (a parsed JSON object).

    `as_of` is the date ages and durations are counted to (default: today). Bad input raises a
    `CalcinosisError` subclass whose `.code` is one of the contract's error codes.
    """
    from calcinosis.core.rules import assess
    from calcinosis.fhir.ingest import case_from_bundle

    kb = knowledge if knowledge is not None else load_knowledge()
    day = as_of if as_of is not None else _dt.date.today()
    case = case_from_bundle(bundle, kb)
    return assess(case, kb, day)
