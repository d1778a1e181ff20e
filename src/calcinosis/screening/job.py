"""`screen(export_dir, ...)`: the worklist and its summary, on either engine."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from calcinosis.core.knowledge import Knowledge, load_knowledge
from calcinosis.screening.engine import Job, Progress, Quiet
from calcinosis.screening.export import open_export
from calcinosis.screening.judge import Verdict
from calcinosis.screening.policy import Policy, load_policy

ENGINES = ("duckdb", "spark")


@dataclass(frozen=True, slots=True)
class Summary:
    engine: str
    as_of: str
    knowledge_version: str
    patients: int
    candidates: int
    listed: int
    seconds: float
    # listed rows per calcinosis type, then per suspicion level, both in the ranking's order
    by_type_level: dict[str, dict[str, int]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # error code -> candidates
    top_rules: list[tuple[str, int]] = field(default_factory=list)  # rule id -> listed rows


@dataclass(frozen=True, slots=True)
class Worklist:
    rows: list[Verdict]  # ranked, most urgent first
    refused: list[Verdict]  # candidates whose resources the engine refused, by id
    summary: Summary


def screen(
    export_dir: str | Path,
    *,
    engine: str = "duckdb",
    as_of: dt.date | None = None,
    knowledge: Knowledge | None = None,
    spark_master: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Worklist:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    kb = knowledge if knowledge is not None else load_knowledge()
    policy = load_policy(kb)
    export = open_export(export_dir)
    day = as_of if as_of is not None else dt.date.today()
    job = Job(as_of=day, knowledge=kb, policy=policy)
    shown = progress if progress is not None else Quiet()
    started = time.perf_counter()
    if engine == "spark":
        from calcinosis.screening import spark_job

        judged = spark_job.screen(export, job, shown, spark_master)
    else:
        from calcinosis.screening import duck

        judged = duck.screen(export, job, shown, workers)
    seconds = time.perf_counter() - started
    return build_worklist(judged.verdicts, judged.patients, policy, engine, day, kb, seconds)


def build_worklist(
    verdicts: list[Verdict],
    patients: int,
    policy: Policy,
    engine: str,
    as_of: dt.date,
    kb: Knowledge,
    seconds: float,
) -> Worklist:
    refused = sorted((v for v in verdicts if v.error), key=lambda v: v.patient_id)
    listed = [
        v
        for v in verdicts
        if not v.error and policy.worth_a_look(v.dcc_suspicion, v.calcinosis_type)
    ]
    listed.sort(key=lambda v: policy.sort_key(v.dcc_suspicion, v.calcinosis_type, v.patient_id))
    rules = Counter(r for v in listed for r in v.deciding_rules)
    summary = Summary(
        engine=engine,
        as_of=as_of.isoformat(),
        knowledge_version=kb.version,
        patients=patients,
        candidates=len(verdicts),
        listed=len(listed),
        seconds=round(seconds, 3),
        by_type_level=_by_type_level(listed, policy),
        refused=dict(Counter(v.error for v in refused).most_common()),
        top_rules=sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
    )
    return Worklist(rows=listed, refused=refused, summary=summary)


def _by_type_level(listed: list[Verdict], policy: Policy) -> dict[str, dict[str, int]]:
    counts = Counter((v.calcinosis_type, v.dcc_suspicion) for v in listed)
    out: dict[str, dict[str, int]] = {}
    for kind in sorted(policy.type_rank, key=policy.type_rank.__getitem__):
        levels = sorted(policy.level_rank, key=policy.level_rank.__getitem__)
        row = {level: counts[(kind, level)] for level in levels if counts[(kind, level)]}
        if row:
            out[kind] = row
    return out
