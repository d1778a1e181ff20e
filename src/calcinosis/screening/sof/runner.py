"""Run a ViewDefinition over a list of resources, on DuckDB or on Spark, and return its rows.

For a handful of resources (tests, one patient's Bundle); a large export goes through
`compile_view` on a relation the engine reads itself.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import json
import warnings
from typing import Any

from calcinosis.screening.sof.compiler import compile_view
from calcinosis.screening.sof.errors import MARKER, ViewEvaluationError

ENGINES = ("duckdb", "spark")
_views = itertools.count()


def run_view(
    view: dict[str, Any],
    resources: list[dict[str, Any]],
    engine: str = "duckdb",
    *,
    spark: Any = None,
) -> list[dict[str, Any]]:
    """The rows of `view` over `resources`, each a dict of the view's columns in order.

    Values follow the column types: booleans, ints (integer, positiveInt, unsignedInt), floats
    (decimal), str otherwise, a list for `collection: true`, None when missing. `spark` is the
    SparkSession to use (default: `calcinosis.screening.spark.spark_session()`).
    Raises ViewDefinitionError for an invalid view, ViewEvaluationError when the data breaks a
    rule of the view (several values in a column that is not a collection, ...), ValueError for
    an unknown engine.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    texts = [json.dumps(r, ensure_ascii=False) for r in resources]
    if engine == "duckdb":
        return _run_duckdb(view, texts)
    return _run_spark(view, texts, spark)


def _run_duckdb(view: dict[str, Any], texts: list[str]) -> list[dict[str, Any]]:
    import duckdb

    compiled = compile_view(view, "duckdb", "resources")
    names = [name for name, _ in compiled.columns]
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE resources AS SELECT unnest(CAST(? AS VARCHAR[])) AS resource", [texts]
        )
        try:
            rows = con.execute(compiled.sql).fetchall()
        except duckdb.Error as exc:
            _reraise_rule(exc)
            raise
    return [dict(zip(names, row, strict=True)) for row in rows]


def _run_spark(view: dict[str, Any], texts: list[str], spark: Any) -> list[dict[str, Any]]:
    from calcinosis.screening.spark import spark_session

    pa: Any = importlib.import_module("pyarrow")  # no type stubs

    session = spark if spark is not None else spark_session()
    relation = f"sof_resources_{next(_views)}"
    compiled = compile_view(view, "spark", relation)
    names = [name for name, _ in compiled.columns]
    # from Arrow, the rows go straight to the JVM (a list of tuples would start Python workers)
    frame = session.createDataFrame(pa.table({"resource": pa.array(texts, pa.string())}))
    frame.createOrReplaceTempView(relation)
    try:
        rows = _collect(session.sql(compiled.sql))
    except Exception as exc:  # pyspark raises several unrelated classes
        _reraise_rule(exc)
        raise
    finally:
        session.catalog.dropTempView(relation)
    return [dict(zip(names, row, strict=True)) for row in rows]


def _collect(frame: Any) -> list[Any]:
    """`frame.collect()`, without the ResourceWarning of the socket PySpark leaves to the
    garbage collector ("The socket will be automatically closed when garbage-collected")."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket", ResourceWarning)
        rows: list[Any] = frame.collect()
        gc.collect()  # the socket goes now, while its warning is ignored
    return rows


def _reraise_rule(exc: Exception) -> None:
    """Raise ViewEvaluationError if the engine failed on a rule the compiled SQL checks."""
    lines = str(exc).strip().splitlines()
    # only the first line: other failures may quote the query, markers and all, further down
    if lines and MARKER in lines[0]:
        message = lines[0].split(MARKER, 1)[1].split(" SQLSTATE")[0].strip()
        raise ViewEvaluationError(message) from exc
