"""HTTP errors as FHIR OperationOutcomes: one mapping from our error codes to statuses.

Every refusal the service gives a machine (REST, CDS Hooks) is an OperationOutcome with the HTTP
status, the FHIR issue type and our contract code in `details.coding`; its text is the error's
safe message, never a traceback or a value from another request.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from calcinosis.core.codes import CodeSystem
from calcinosis.errors import CalcinosisError

FHIR_JSON = "application/fhir+json"

# Contract code -> HTTP status. Syntax problems are 400; well-formed JSON that is not one
# patient's Bundle is 422 (understood, but cannot be processed).
STATUS_BY_CODE = {
    "invalid-json": 400,
    "unreadable": 400,
    "too-large": 413,
    "not-a-bundle": 422,
    "invalid-resource": 422,
    "no-patient": 422,
    "multiple-patients": 422,
}

# HTTP status -> FHIR IssueType (the FHIR R4 IssueType value set).
_ISSUE_TYPE = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    500: "exception",
    502: "transient",
    503: "transient",
    504: "timeout",
}


class Problem(Exception):
    """A refusal with its HTTP status, our short code and a message safe to show the caller."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    @classmethod
    def from_error(cls, error: CalcinosisError) -> Problem:
        return cls(STATUS_BY_CODE.get(error.code, 422), error.code, error.message)


def operation_outcome(status: int, code: str, message: str) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one error issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_TYPE.get(status, "processing"),
                "details": {
                    "coding": [{"system": CodeSystem.CALCINOSIS_ERROR.value, "code": code}],
                    "text": message,
                },
            }
        ],
    }


def outcome_response(problem: Problem) -> Response:
    body = orjson.dumps(operation_outcome(problem.status, problem.code, problem.message))
    return Response(body, problem.status, headers=problem.headers, media_type=FHIR_JSON)
