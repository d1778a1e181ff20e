"""assess(case, knowledge, as_of) -> Assessment: the one entry point of the functional core.

`judge` is its first half (the suspicion level and the calcinosis type) and `complete` its
second; screening judges many patients and completes only those it lists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from calcinosis.core.assessment import Assessment, Classification, PatientSummary, Suspicion
from calcinosis.core.case import Case
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules import plan
from calcinosis.core.rules.calculate import calculate
from calcinosis.core.rules.classify import classify
from calcinosis.core.rules.differential import rank_differential
from calcinosis.core.rules.signals import Evidence, gather
from calcinosis.core.rules.suspicion import judge_suspicion

__all__ = ["Judgement", "assess", "complete", "judge"]


@dataclass(frozen=True, slots=True)
class Judgement:
    """The suspicion level and the type, with the evidence the rest of the assessment reads."""

    case: Case
    as_of: dt.date
    evidence: Evidence
    suspicion: Suspicion
    calcinosis: Classification


def assess(case: Case, kb: Knowledge, as_of: dt.date) -> Assessment:
    """Pure and deterministic: the same case, knowledge and date give the same assessment."""
    return complete(judge(case, kb, as_of), kb)


def judge(case: Case, kb: Knowledge, as_of: dt.date) -> Judgement:
    ev = gather(case, kb, as_of)
    calculate(ev, kb)
    suspicion = judge_suspicion(ev, kb)
    ev.add(f"suspicion:{suspicion.level}", *suspicion.basis.findings)
    calcinosis = classify(ev, kb)
    return Judgement(case, as_of, ev, suspicion, calcinosis)


def complete(judged: Judgement, kb: Knowledge) -> Assessment:
    """The differential, plan, warnings and missing data that follow from a judgement (once:
    the evidence it carries is extended on the way)."""
    case, as_of, ev = judged.case, judged.as_of, judged.evidence
    suspicion, calcinosis = judged.suspicion, judged.calcinosis
    differential = rank_differential(ev, kb)
    workup = plan.workup(ev, kb)
    management = plan.management(ev, kb)
    follow_up = plan.follow_up(ev, kb)
    warnings = plan.warnings(ev, kb, case)
    missing = plan.missing_data(ev, kb)
    bases = [suspicion.basis, calcinosis.basis]
    for group in (differential, ev.calculations, workup, management, follow_up, warnings):
        bases += [s.basis for s in group]
    cited = dict.fromkeys(c for b in bases for c in b.citations)
    return Assessment(
        knowledge_version=kb.version,
        patient=PatientSummary(
            id=case.patient_id,
            age_years=int(ev.age_years) if ev.age_years is not None else None,
            sex=case.sex,
        ),
        dcc_suspicion=suspicion,
        calcinosis=calcinosis,
        differential=differential,
        calculations=tuple(ev.calculations),
        workup=workup,
        management=management,
        follow_up=follow_up,
        warnings=warnings,
        missing_data=missing,
        citations=tuple(kb.citations[c] for c in cited),
        as_of=as_of.isoformat(),
    )
