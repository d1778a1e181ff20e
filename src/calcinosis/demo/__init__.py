"""Demo data shipped with the package: the published seed case (Palanivel & Rao 2026)."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

SEED_FILE = "seed-palanivel-2026.json"
SEED_AS_OF = dt.date(2026, 1, 1)
"""Ages and durations of the demo are counted to this date, so the demo never changes."""


def seed_bundle() -> dict[str, Any]:
    """The seed case as a parsed FHIR Bundle."""
    from calcinosis.fhir import jsonio

    data = resources.files(__name__).joinpath(SEED_FILE).read_bytes()
    return jsonio.require_object(jsonio.parse_json_bytes(data))
