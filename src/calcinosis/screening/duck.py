"""The embedded engine: DuckDB reads the export, narrows it, and hands candidates to the judge.

DuckDB's memory is capped and it spills to a temporary folder, so the export's size does not
decide the memory used; candidates are judged in worker processes as their batches arrive.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple

import duckdb

from calcinosis.core.knowledge import load_knowledge
from calcinosis.errors import EngineUnavailableError, ExportError
from calcinosis.screening.engine import (
    Job,
    Judged,
    Progress,
    compile_facts,
    define_facts,
    load_views,
    narrowing_members,
)
from calcinosis.screening.export import Export
from calcinosis.screening.judge import Verdict, judge_all
from calcinosis.screening.narrowing import narrowing
from calcinosis.screening.policy import load_policy
from calcinosis.screening.prefilter import telling_sql
from calcinosis.screening.sql import DUCKDB, grouped_sql, literal, narrowing_steps

BATCH_PATIENTS = 512
MEMORY_LIMIT = "1GB"


class _Pool(NamedTuple):
    executor: cf.ProcessPoolExecutor
    in_flight: int  # batches handed out before waiting for one: keeps memory bounded


def screen(export: Export, job: Job, progress: Progress, workers: int | None = None) -> Judged:
    workers = workers or os.cpu_count() or 1
    try:
        with (
            _judging_pool(job, workers) as pool,
            tempfile.TemporaryDirectory(prefix="calcinosis-duckdb-") as spill,
        ):
            con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": spill})
            try:
                con.execute("SET preserve_insertion_order = false")
                return _run(con, export, job, progress, pool)
            except duckdb.Error as exc:
                raise ExportError(f"the export could not be read: {_first_line(exc)}") from exc
            finally:
                con.close()
    except BrokenProcessPool as exc:
        raise EngineUnavailableError(
            "a judging process stopped unexpectedly (out of memory?); rerun with --workers 1"
        ) from exc


@contextlib.contextmanager
def _judging_pool(job: Job, workers: int) -> Iterator[_Pool | None]:
    """Worker processes that judge candidates, started before DuckDB starts its threads; none
    for one worker (judged in this process).

    Forked when this process runs no other Python thread: the workers then share the loaded
    knowledge instead of loading it again. Otherwise spawned (a fork copies only the calling
    thread, and a lock another thread held would stay locked), and they load the knowledge
    while DuckDB narrows."""
    if workers <= 1:
        yield None
        return
    fork = _may_fork()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    init = (
        functools.partial(_inherit, job)
        if fork
        else functools.partial(_start_worker, job.knowledge_dir, job.as_of.isoformat())
    )
    with cf.ProcessPoolExecutor(workers, context, initializer=init) as pool:
        for _ in range(workers):
            pool.submit(_ready)
        yield _Pool(pool, in_flight=2 * workers)


def _may_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _run(
    con: duckdb.DuckDBPyConnection,
    export: Export,
    job: Job,
    progress: Progress,
    pool: _Pool | None,
) -> Judged:
    progress.phase("Reading the export and narrowing it")
    narrow = narrowing(job.knowledge)
    sources, telling, paths = {}, {}, {}
    for rtype, files in export.files.items():
        paths[rtype] = "[" + ", ".join(literal(str(f)) for f in files) + "]"
        con.execute(
            f"CREATE VIEW src_{rtype} AS SELECT json::VARCHAR AS resource "
            f"FROM read_ndjson_objects({paths[rtype]}, compression = 'auto_detect')"
        )
        sources[rtype] = f"src_{rtype}"
        # the views read only the resources that may tell the narrowing something
        telling[rtype] = sources[rtype] if rtype == "Patient" else f"telling_{rtype}"
    views = load_views(job.knowledge)
    compiled = compile_facts(views, telling, "duckdb")
    tested = narrowing_members(views)
    for rtype, view in compiled.items():
        if rtype != "Patient":
            query = telling_sql(paths[rtype], view.members, tested[rtype], narrow)
            con.execute(f"CREATE VIEW {telling[rtype]} AS {query}")
    facts = define_facts(compiled, lambda name, sql: _define(con, name, sql))
    for name, query in narrowing_steps(facts, DUCKDB, narrow):
        con.execute(f"CREATE TEMP TABLE {name} AS {query}")
    patients = _count(con, "SELECT count(*) FROM facts_Patient")
    total = _count(con, "SELECT count(*) FROM candidates")
    progress.phase("Judging candidates", total)
    reader = con.sql(grouped_sql(sources, DUCKDB, "candidates")).to_arrow_reader(BATCH_PATIENTS)
    verdicts = list(_judge(_batches(reader), job, progress, pool))
    return Judged(patients=patients, verdicts=verdicts)


def _define(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    con.execute(f"CREATE VIEW {name} AS {sql}")


def _batches(reader: Any) -> Iterator[list[tuple[str, list[str]]]]:
    for batch in reader:
        data = batch.to_pydict()
        yield list(zip(data["patient"], data["resources"], strict=True))


def _judge(
    batches: Iterator[list[tuple[str, list[str]]]],
    job: Job,
    progress: Progress,
    pool: _Pool | None,
) -> Iterator[Verdict]:
    if pool is None:
        for batch in batches:
            yield from judge_all(batch, job.as_of, job.knowledge, job.policy)
            progress.advance(len(batch))
        return
    pending: set[cf.Future[list[dict[str, Any]]]] = set()
    for batch in batches:
        pending.add(pool.executor.submit(_judge_in_worker, batch))
        if len(pending) >= pool.in_flight:
            done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            yield from _collect(done, progress)
    yield from _collect(pending, progress)


def _collect(
    futures: set[cf.Future[list[dict[str, Any]]]], progress: Progress
) -> Iterator[Verdict]:
    for future in futures:
        rows = future.result()
        progress.advance(len(rows))
        yield from (Verdict.from_row(r) for r in rows)


_WORKER: dict[str, Any] = {}


def _start_worker(knowledge_dir: str, as_of: str) -> None:
    import datetime as dt

    kb = load_knowledge(knowledge_dir)
    _WORKER.update(kb=kb, policy=load_policy(kb), as_of=dt.date.fromisoformat(as_of))


def _inherit(job: Job) -> None:
    """A forked worker's start: the job came with the fork, already loaded."""
    _WORKER.update(kb=job.knowledge, policy=job.policy, as_of=job.as_of)


def _ready() -> None:
    """Nothing: submitted once per worker so that the pool starts them all now."""


def _judge_in_worker(batch: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    verdicts = judge_all(batch, _WORKER["as_of"], _WORKER["kb"], _WORKER["policy"])
    return [v.as_row() for v in verdicts]


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    rows = con.execute(query).fetchall()
    return int(rows[0][0]) if rows else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
