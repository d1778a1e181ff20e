"""The errors of the ViewDefinition runner.

    SofError(ValueError)           base: a view could not be compiled or run
    ├── ViewDefinitionError        the view is invalid; the message names the field
    │   └── FhirPathSyntaxError    a FHIRPath expression does not parse (with the position)
    └── ViewEvaluationError        the data broke a rule of the view while it ran: several
                                   values in a column without `collection: true`, a `where`
                                   path that is not boolean, a `repeat` nested too deep

Runtime rules are checked by the SQL itself (DuckDB `error()`, Spark `raise_error()`); their
messages start with `MARKER`, so the runner can tell them from other engine failures.
"""

from __future__ import annotations

MARKER = "sof-view-error: "


class SofError(ValueError):
    """Base of every error the runner raises on purpose."""


class ViewDefinitionError(SofError):
    """The ViewDefinition is invalid; the message names the field, e.g. `select[0].column[1]`."""


class FhirPathSyntaxError(ViewDefinitionError):
    """A FHIRPath expression does not parse."""

    def __init__(self, message: str, expression: str, position: int) -> None:
        super().__init__(f"{message} at position {position} in {expression!r}")
        self.expression = expression
        self.position = position


class ViewEvaluationError(SofError):
    """Running the view over the data broke one of its rules."""
