"""Schemathesis against the live OpenAPI document: a few hundred generated requests per
operation, and not one server error or response that breaks the published schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from calcinosis.web.app import create_app
from calcinosis.web.settings import Settings
from webserver import serving

EXAMPLES_PER_OPERATION = 300


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    with serving(lambda url: create_app(Settings(public_url=url))) as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


OPERATIONS = [
    ("POST", "/api/assess"),
    ("GET", "/api/knowledge"),
    ("GET", "/api/cds-feedback"),
    ("GET", "/health"),
    ("GET", "/health/ready"),
]


def test_every_documented_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = set()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        # /api/registry: fuzzed signed in, on a registry, by test_registry_web_fuzz.py
        if (
            not operation.path.startswith(("/cds-services", "/api/registry"))
            and operation.path != "/"
        ):
            documented.add((operation.method.upper(), operation.path))
    assert documented <= set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_server_errors_and_responses_match_the_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: schemathesis.Case) -> None:
        # A schema cannot say "the Bundle must hold exactly one Patient", so a schema-valid body
        # may still be refused with 422; every other check stays on.
        response = case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        seen.append(response.status_code)

    call()
    assert seen and max(seen) < 500
