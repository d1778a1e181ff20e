"""Population screening: FHIR Bulk Data NDJSON in, a ranked worklist out (a shell, not core).

SQL on FHIR v2 ViewDefinitions flatten the export, SQL narrows it to candidates, and the core
engine judges each candidate, on DuckDB (one machine) or Apache Spark.
"""

from __future__ import annotations

from calcinosis.screening.sof.runner import run_view

__all__ = ["run_view"]
