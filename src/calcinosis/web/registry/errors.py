"""Registry errors -> HTTP refusals (OperationOutcome for machines, the error page for people).

    not-found 404 · conflict 412 (a stale If-Match or form version) · duplicate 409 ·
    invalid-record 422 · cannot-plan 409 · database unavailable or schema not ready 503

The Bundle errors of the contract keep their statuses (problems.STATUS_BY_CODE). Messages are
the errors' own, which never quote identifiers or clinical values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from calcinosis.errors import CalcinosisError, InputError
from calcinosis.registry.errors import ConflictError, RegistryError
from calcinosis.web.problems import Problem

STATUS_BY_CODE = {
    "not-found": 404,
    "conflict": 412,
    "duplicate": 409,
    "invalid-record": 422,
    "cannot-plan": 409,
    "database-unavailable": 503,
    "schema-not-ready": 503,
}


def problem_of(error: CalcinosisError) -> Problem:
    if isinstance(error, InputError):
        return Problem.from_error(error)
    headers = {}
    if isinstance(error, ConflictError) and error.current_version is not None:
        headers["ETag"] = f'"{error.current_version}"'
    return Problem(STATUS_BY_CODE.get(error.code, 500), error.code, error.message, headers)


@contextlib.contextmanager
def as_problems() -> Iterator[None]:
    """Turn the registry's and the contract's errors raised inside into Problems."""
    try:
        yield
    except (RegistryError, InputError) as exc:
        raise problem_of(exc) from None
