"""run_view, compile_view and spark_session: the API other code uses, its errors, and what the
two engines must agree on beyond the conformance suite (constants that need escaping)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import duckdb
import pytest

from calcinosis.errors import EngineUnavailableError
from calcinosis.screening import run_view as exported_run_view
from calcinosis.screening.sof.compiler import REPEAT_DEPTH, compile_view
from calcinosis.screening.sof.errors import ViewDefinitionError, ViewEvaluationError
from calcinosis.screening.sof.runner import run_view
from calcinosis.screening.spark import SparkUnavailableError, spark_session

ENGINES = ("duckdb", "spark")
PATIENTS = [
    {"resourceType": "Patient", "id": "a", "name": [{"family": 'O\'Brien \\ "Jr"\nII'}]},
    {"resourceType": "Patient", "id": "b", "name": [{"family": "Smith"}, {"family": "Jones"}]},
    {"resourceType": "Observation", "id": "o", "status": "final"},
]
ID_COLUMN = {"name": "id", "path": "id", "type": "id"}


@pytest.fixture(scope="module")
def spark() -> Any:
    return spark_session()


def run(view: dict[str, Any], engine: str, request: Any) -> list[dict[str, Any]]:
    """`view` over PATIENTS on `engine` (Spark through the module's session)."""
    session = request.getfixturevalue("spark") if engine == "spark" else None
    return run_view(view, PATIENTS, engine, spark=session)


def view_of(*columns: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resource": "Patient", "select": [{"column": list(columns)}], **extra}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_constant_with_quotes_backslashes_and_newlines(engine: str, request: Any) -> None:
    family = 'O\'Brien \\ "Jr"\nII'
    view = view_of(
        ID_COLUMN,
        {"name": "family", "path": "%family", "type": "string"},
        constant=[{"name": "family", "valueString": family}],
        where=[{"path": "name.family = %family"}],
    )
    assert run(view, engine, request) == [{"id": "a", "family": family}]


@pytest.mark.parametrize("engine", ENGINES)
def test_several_values_in_a_single_column_is_an_error(engine: str, request: Any) -> None:
    view = view_of(ID_COLUMN, {"name": "family", "path": "name.family", "type": "string"})
    with pytest.raises(ViewEvaluationError) as caught:
        run(view, engine, request)
    assert str(caught.value) == (
        "select[0].column[1].path: several values in column 'family', which is not a collection"
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_values_come_back_typed(engine: str, request: Any) -> None:
    view = view_of(
        ID_COLUMN,
        {"name": "n", "path": "name.count()", "type": "integer"},
        {"name": "half", "path": "name.count() / 2", "type": "decimal"},
        {"name": "named", "path": "name.exists()", "type": "boolean"},
        {"name": "families", "path": "name.family", "type": "string", "collection": True},
        {"name": "missing", "path": "gender", "type": "code"},
        where=[{"path": "id = 'b'"}],
    )
    row = run(view, engine, request)[0]
    assert row == {
        "id": "b",
        "n": 2,
        "half": 1.0,
        "named": True,
        "families": ["Smith", "Jones"],
        "missing": None,
    }
    assert [type(v) for v in row.values()] == [str, int, float, bool, list, type(None)]


def test_repeat_deeper_than_its_limit_is_an_error() -> None:
    item: dict[str, Any] = {"linkId": "deepest"}
    for depth in range(REPEAT_DEPTH):
        item = {"linkId": str(depth), "item": [item]}
    response = {"resourceType": "QuestionnaireResponse", "id": "q", "item": [item]}
    select = [{"repeat": ["item"], "column": [{"name": "link", "path": "linkId"}]}]
    view = {"resource": "QuestionnaireResponse", "select": select}
    with pytest.raises(ViewEvaluationError, match=f"nested deeper than {REPEAT_DEPTH} levels"):
        run_view(view, [response])
    response["item"] = item["item"]  # one level less: within the limit
    assert len(run_view(view, [response])) == REPEAT_DEPTH


@pytest.mark.parametrize(
    ("view", "message"),
    [
        ([], "a ViewDefinition must be a JSON object"),
        ({"select": []}, "resource: must name a FHIR resource type such as 'Patient', got None"),
        ({"resource": "Patient"}, "select: must be a non-empty list"),
        ({"resource": "Patient", "select": [{}]}, "select: the view defines no column"),
        (view_of({"name": "1d", "path": "id"}), "select[0].column[0].name: must match"),
        (view_of({"name": "x"}), "select[0].column[0].path: must be a FHIRPath expression"),
        (view_of(ID_COLUMN, {**ID_COLUMN, "name": "ID"}), "column 'ID' is defined twice"),
        (view_of({**ID_COLUMN, "colection": True}), "unknown element 'colection'"),
        (view_of({**ID_COLUMN, "collection": "yes"}), "collection: must be true or false"),
        (
            view_of({"name": "x", "path": "name.("}),
            "select[0].column[0].path: expected a name after '.' at position 5 in 'name.('",
        ),
        (view_of({"name": "x", "path": "%nope"}), "%nope is not a constant of the view"),
        (
            view_of(ID_COLUMN, constant=[{"name": "c", "valueInteger": "1"}]),
            "constant[0].valueInteger: '1' is not a integer",
        ),
        (
            view_of(ID_COLUMN, constant=[{"name": "c", "valueString": "x", "valueCode": "y"}]),
            "constant[0]: needs exactly one value[x], has 2",
        ),
        (
            view_of(ID_COLUMN, where=[{"path": "'text'"}]),
            "where[0].path: gives a string, not a boolean",
        ),
        (
            {"resource": "Patient", "select": [{"forEach": "a", "forEachOrNull": "b"}]},
            "select[0]: has both forEach and forEachOrNull",
        ),
        (
            {"resource": "Patient", "select": [{"repeat": "item", "column": [ID_COLUMN]}]},
            "select[0].repeat: must be a non-empty list of paths",
        ),
    ],
)
def test_invalid_views_name_the_field(view: Any, message: str) -> None:
    with pytest.raises(ViewDefinitionError) as caught:
        run_view(view, PATIENTS)
    assert message in str(caught.value)


def test_union_branches_must_agree_on_types_too() -> None:
    branches = [{"column": [ID_COLUMN]}, {"column": [{**ID_COLUMN, "type": "string"}]}]
    with pytest.raises(ViewDefinitionError, match=r"select\[0\]\.unionAll\[1\]: unionAll"):
        run_view({"resource": "Patient", "select": [{"unionAll": branches}]}, PATIENTS)


def test_unknown_engine_and_dialect() -> None:
    with pytest.raises(ValueError, match="unknown engine 'sqlite': use one of duckdb, spark"):
        run_view(view_of(ID_COLUMN), PATIENTS, "sqlite")
    with pytest.raises(ValueError, match="unknown SQL dialect 'sqlite'"):
        compile_view(view_of(ID_COLUMN), "sqlite", "resources")
    with pytest.raises(ValueError, match="must be a table or view name"):
        compile_view(view_of(ID_COLUMN), "duckdb", "resources; DROP TABLE x")


def test_run_view_is_exported_by_the_screening_package() -> None:
    assert exported_run_view is run_view


def test_compiled_views_read_a_mixed_relation_of_json() -> None:
    compiled = compile_view(
        view_of(ID_COLUMN, {"name": "family", "path": "name.family.first()"}), "duckdb", "main.r"
    )
    assert compiled.columns == [("id", "id"), ("family", "string")]
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE r AS SELECT CAST(t AS JSON) AS resource FROM unnest(?) u(t)",
            [[json.dumps(p) for p in PATIENTS]],
        )
        rows = con.execute(f"SELECT * FROM ({compiled.sql}) ORDER BY id").fetchall()
    assert rows == [("a", 'O\'Brien \\ "Jr"\nII'), ("b", "Smith")]


def test_the_spark_session_is_shared_and_configured(spark: Any) -> None:
    assert spark_session() is spark
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.master") == "local[2]"
    assert conf.get("spark.app.name") == "calcinosis"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert spark.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert conf.get("spark.ui.enabled") == "false"
    with pytest.raises(ValueError, match=r"a Spark session on local\[2\] already runs"):
        spark_session("local[1]")


PROBE = """
import sys
{setup}
from calcinosis.screening.spark import SparkUnavailableError, spark_session
try:
    spark_session()
except SparkUnavailableError as exc:
    print(isinstance(exc, RuntimeError), exc)
"""


@pytest.mark.parametrize(
    ("setup", "env", "message"),
    [
        ("sys.modules['pyspark'] = None", {}, "PySpark is not installed: install the spark extra"),
        ("", {"PATH": "/nonexistent"}, "Spark needs a Java 17 runtime: install one"),
    ],
)
def test_without_pyspark_or_java_the_error_says_what_to_install(
    setup: str, env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": ":".join(sys.path), **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"True {message}")
    assert issubclass(SparkUnavailableError, EngineUnavailableError)


def test_importing_the_runner_loads_no_engine() -> None:
    probe = (
        "import sys, calcinosis.screening, calcinosis.screening.spark, "
        "calcinosis.screening.sof.runner, calcinosis.screening.sof.compiler; "
        "print(sorted(m for m in ('pyspark', 'duckdb', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
