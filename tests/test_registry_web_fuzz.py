"""Schemathesis against the registry's endpoints in the live OpenAPI document, signed in with an
API token on a real registry: generated requests (ids, queries, bodies, headers) never cause a
server error or a response that breaks the published schema, and a call without the token is
refused (schemathesis's ignored_auth check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from registry_web import SEED, Clinic, clinic

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    with clinic("sqlite", tmp_path_factory.mktemp("fuzz")) as made:
        api = made.api("dr.a")
        recorded = api.post(
            "/api/registry/patients?as_of=2026-01-01",
            content=SEED.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert recorded.status_code == 201
        yield made


@pytest.fixture(scope="module")
def api_schema(site: Clinic) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{site.base_url}/openapi.json")


def registry_operations() -> list[tuple[str, str]]:
    from registry_web import protected_routes

    return [(m, p) for m, p in protected_routes() if p.startswith("/api/registry")]


def test_every_registry_operation_is_documented_and_fuzzed(
    api_schema: schemathesis.BaseSchema,
) -> None:
    documented = {
        (r.ok().method.upper(), r.ok().path)
        for r in api_schema.get_all_operations()
        if r.ok().path.startswith("/api/registry")
    }
    assert documented == set(registry_operations())


@pytest.mark.parametrize(("method", "path"), registry_operations())
def test_no_server_errors_and_responses_match_the_schema(
    site: Clinic, api_schema: schemathesis.BaseSchema, method: str, path: str, tmp_path: Path
) -> None:
    operation = api_schema[path][method]
    token = site.bearer("dr.a")
    seen: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: schemathesis.Case) -> None:
        # Generated ids name no record (404) and generated Bundles are rarely one patient's
        # record (422): schema-valid data may be refused; every other check stays on.
        response = case.call_and_validate(
            headers=token, excluded_checks=[checks.positive_data_acceptance]
        )
        seen.append(response.status_code)

    call()
    assert seen and max(seen) < 500
