"""SQL on FHIR v2: ViewDefinitions compiled to SQL for DuckDB and Spark SQL.

    validate.py     ViewDefinition JSON -> typed View (or ViewDefinitionError)
    fhirpath.py     FHIRPath text -> AST
    expressions.py  FHIRPath AST -> SQL expression (functions.py: the functions)
    dialects.py     what DuckDB and Spark spell differently
    compiler.py     View -> one SQL query over a relation of JSON resources (`compile_view`)
    runner.py       `run_view`: a view over a list of resources, on either engine

See docs/sql-on-fhir.md for the FHIRPath subset and the conformance results.
"""

from __future__ import annotations

from calcinosis.screening.sof.compiler import CompiledView, compile_view
from calcinosis.screening.sof.errors import (
    FhirPathSyntaxError,
    SofError,
    ViewDefinitionError,
    ViewEvaluationError,
)

__all__ = [
    "CompiledView",
    "FhirPathSyntaxError",
    "SofError",
    "ViewDefinitionError",
    "ViewEvaluationError",
    "compile_view",
]
