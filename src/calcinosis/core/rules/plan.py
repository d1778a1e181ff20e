"""Work-up, management, follow-up, warnings and missing data from the knowledge rule lists."""

from __future__ import annotations

from calcinosis.core.assessment import Basis, MissingData, Statement
from calcinosis.core.case import Case
from calcinosis.core.knowledge import Knowledge, Rule
from calcinosis.core.rules.signals import Evidence


def _statements(ev: Evidence, kb: Knowledge, rules: tuple[Rule, ...]) -> tuple[Statement, ...]:
    signals = ev.signals
    extras = kb.derived.plan_extras
    out = []
    for rule in rules:
        if not rule.when.holds(signals):
            continue
        out.append(
            Statement(
                id=rule.id,
                summary=rule.summary,
                basis=Basis(ev.findings_for(rule.when.met(signals)), (rule.id,), rule.citations),
                extra=extras.get(rule.id, ()),
            )
        )
    return tuple(out)


def workup(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, kb.workup)


def management(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, kb.management)


def follow_up(ev: Evidence, kb: Knowledge) -> tuple[Statement, ...]:
    return _statements(ev, kb, kb.follow_up)


def warnings(ev: Evidence, kb: Knowledge, case: Case) -> tuple[Statement, ...]:
    out = list(_statements(ev, kb, kb.derived.signal_warnings))
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
        for rule in kb.missing_data
        if rule.when.holds(ev.signals)
    )
