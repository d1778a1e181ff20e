"""The official SQL on FHIR v2 test suite, every test on DuckDB and on Spark.

The suite is third-party data, read in place from ../shared/sql-on-fhir-v2-tests/ beside the
checkout (see its README: 22 files, 134 tests, copied unchanged from FHIR/sql-on-fhir-v2).
Expected rows come from the suite alone. As the reference runner does, rows are compared as a
multiset (their order is not significant); values compare by type as well as value, so `true`
is never taken for `1`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calcinosis.screening.sof.compiler import compile_view
from calcinosis.screening.sof.errors import SofError
from calcinosis.screening.sof.runner import run_view
from calcinosis.screening.spark import spark_session

SUITE = Path(__file__).resolve().parents[2] / "shared" / "sql-on-fhir-v2-tests" / "tests"
ENGINES = ("duckdb", "spark")

# Tests this runner cannot pass, as (engine, file, test title) -> why. Each becomes a strict
# xfail, so a test that starts to pass is noticed. See docs/sql-on-fhir.md.
EXPECTED_FAILURES: dict[tuple[str, str, str], str] = {}


def _suite_files() -> list[Path]:
    return sorted(SUITE.glob("*.json"))


def _cases() -> Iterator[Any]:
    for path in _suite_files():
        suite = json.loads(path.read_text(encoding="utf-8"))
        for case in suite["tests"]:
            for engine in ENGINES:
                key = (engine, path.name, case["title"])
                marks = []
                if key in EXPECTED_FAILURES:
                    marks.append(pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[key]))
                yield pytest.param(
                    suite["resources"],
                    case,
                    engine,
                    id=f"{path.stem}::{case['title']}::{engine}",
                    marks=marks,
                )


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session()


def _canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as sorted JSON texts: a multiset, with 5 and 5.0 alike but true unlike 1."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return sorted(json.dumps({k: plain(v) for k, v in row.items()}, sort_keys=True) for row in rows)


def test_the_whole_suite_is_there() -> None:
    files = _suite_files()
    tests = sum(len(json.loads(p.read_text(encoding="utf-8"))["tests"]) for p in files)
    assert (len(files), tests) == (22, 134)


@pytest.mark.parametrize(("resources", "case", "engine"), list(_cases()))
def test_suite_case(
    resources: list[dict[str, Any]], case: dict[str, Any], engine: str, request: Any
) -> None:
    session = request.getfixturevalue("spark") if engine == "spark" else None
    if case.get("expectError"):
        with pytest.raises(SofError):
            run_view(case["view"], resources, engine, spark=session)
        return
    rows = run_view(case["view"], resources, engine, spark=session)
    if "expectColumns" in case:
        compiled = compile_view(case["view"], engine, "resources")
        assert [name for name, _ in compiled.columns] == case["expectColumns"]
        assert all(list(row) == case["expectColumns"] for row in rows)
    assert _canonical(rows) == _canonical(case["expect"])
