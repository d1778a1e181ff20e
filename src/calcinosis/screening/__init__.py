"""Population screening: FHIR Bulk Data NDJSON in, a ranked worklist out (a shell, not core).

SQL on FHIR v2 ViewDefinitions flatten the export, SQL narrows it to candidates, and the core
engine judges each candidate, on DuckDB (one machine) or Apache Spark.

    from calcinosis.screening import run_view
    rows = run_view(view_definition, resources, engine="duckdb")   # or "spark"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from calcinosis.screening.sof.runner import run_view

__all__ = ["run_view"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import calcinosis.screening.<module>` stays light.
    if name == "run_view":
        from calcinosis.screening.sof.runner import run_view

        return run_view
    raise AttributeError(name)
