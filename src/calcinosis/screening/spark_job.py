"""The cluster engine: the same views, narrowing SQL and judge, run by Apache Spark.

Spark reads the export (plain or gzip NDJSON) as text, runs the compiled views and the
narrowing in Spark SQL, gathers each candidate's resources with a shuffle, and judges them on
the executors with `mapInArrow`, so only the verdicts come back to the driver. Executors need
this package installed (see docs/screening.md for spark-submit).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

from calcinosis.core.knowledge import load_knowledge
from calcinosis.screening.engine import (
    Job,
    Judged,
    Progress,
    compile_facts,
    define_facts,
    load_views,
)
from calcinosis.screening.export import Export
from calcinosis.screening.judge import COLUMNS, LIST_COLUMNS, Verdict, judge_all
from calcinosis.screening.narrowing import narrowing
from calcinosis.screening.policy import load_policy
from calcinosis.screening.spark import spark_session
from calcinosis.screening.sql import SPARK, grouped_sql, narrowing_steps

VERDICT_SCHEMA = ", ".join(
    f"{c} array<string>" if c in LIST_COLUMNS else f"{c} string" for c in COLUMNS
)


def screen(export: Export, job: Job, progress: Progress, master: str | None = None) -> Judged:
    with _socket_leak_ignored():
        return _run(spark_session(master), export, job, progress)


def _run(spark: Any, export: Export, job: Job, progress: Progress) -> Judged:
    progress.phase("Reading the export and narrowing it (Spark)")
    sources = {}
    for rtype, files in export.files.items():
        frame = spark.read.text([str(f) for f in files]).withColumnRenamed("value", "resource")
        frame.createOrReplaceTempView(f"src_{rtype}")
        sources[rtype] = f"src_{rtype}"
    facts = define_facts(
        compile_facts(load_views(job.knowledge), sources, "spark"),
        lambda name, sql: spark.sql(sql).createOrReplaceTempView(name),
    )
    steps = []
    for name, query in narrowing_steps(facts, SPARK, narrowing(job.knowledge)):
        steps.append(spark.sql(query).cache())
        steps[-1].createOrReplaceTempView(name)
    candidates = steps[-1]
    patients = int(spark.sql("SELECT count(*) FROM facts_Patient").collect()[0][0])
    progress.phase("Judging candidates (Spark)", candidates.count())
    grouped = spark.sql(grouped_sql(sources, SPARK, "candidates"))
    judge = _arrow_judge(job.knowledge_dir, job.as_of.isoformat())
    rows = grouped.mapInArrow(judge, VERDICT_SCHEMA).collect()
    for step in steps:
        step.unpersist()
    progress.advance(len(rows))
    verdicts = [Verdict.from_row({c: row[c] for c in COLUMNS}) for row in rows]
    return Judged(patients=patients, verdicts=verdicts)


@contextlib.contextmanager
def _socket_leak_ignored() -> Iterator[None]:
    """PySpark leaves the local sockets it reads results from to the garbage collector, which
    warns (ResourceWarning) as it closes them; they are closed all the same."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        yield


def _arrow_judge(knowledge_dir: str, as_of: str) -> Any:
    """The function each executor runs on Arrow batches of (patient, resources)."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        kb = load_knowledge(knowledge_dir)
        policy = load_policy(kb)
        day = dt.date.fromisoformat(as_of)
        for batch in batches:
            data = batch.to_pydict()
            groups = zip(data["patient"], data["resources"], strict=True)
            rows = [v.as_row() for v in judge_all(groups, day, kb, policy)]
            yield pa.RecordBatch.from_pylist(rows, schema=_schema())

    return run


def _schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([(c, pa.list_(text) if c in LIST_COLUMNS else text) for c in COLUMNS])
