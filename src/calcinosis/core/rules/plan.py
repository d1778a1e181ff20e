"""Work-up, management, follow-up, warnings and missing data from the knowledge rule lists."""

from __future__ import annotations

from calcinosis.core.assessment import Basis, MissingData, Statement
from calcinosis.core.case import Case
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.rules.signals import Evidence


def _statements(ev: Evidence, kb: Knowledge, section: str) -> tuple[Statement, ...]:
    extras = kb.derived.plan_extras
    return tuple(
        [
            Statement(
                id=rule.id,
                summary=rule.summary,
                basis=Basis(ev.findings_for(met), (rule.id,), rule.citations),
                extra=extras.get(rule.id, ()),
            )
            for rule, met in kb.derived.plan_lists[section].fired(ev.signals)
        ]
    )


def workup(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, "workup")


def management(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, "management")


def follow_up(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, "follow_up")


def warnings(ev: Evidence, kb: Knowledge, case: Case) -> tuple[Statement, ...]:
    out = list(_statements(ev, kb, "warnings"))
    seen: set[tuple[str, str]] = set()
    for rule_id, summary, findings in case.ingest_warnings:
        if (rule_id, summary) in seen or rule_id not in kb.rules:
            continue
        seen.add((rule_id, summary))
        rule = kb.rules[rule_id]
        out.append(
            Statement(
                id=rule_id,
                summary=f"{rule.summary}: {summary}",
                basis=Basis(findings, (rule_id,), rule.citations),
            )
        )
    return tuple(out)


def missing_data(ev: Evidence, kb: Knowledge) -> tuple[MissingData, ...]:
    return tuple(
        MissingData(rule.id, rule.summary, str(rule.data["would_change"]))
        for rule, _ in kb.derived.plan_lists["missing_data"].fired(ev.signals)
    )
