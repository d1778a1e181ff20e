"""Plan a patient's treatment sessions and follow-up reviews from the stored assessment.

Pure: a PatientFile and the knowledge in, a Plan out. Nothing here knows an interval: each
review comes from a follow-up rule that fired in the patient's latest assessment and takes its
`interval` ({low, high, unit}) from the knowledge base (rules/follow-up.yaml). A review is
planned for anchor + low and due by anchor + high, where the anchor is the end of treatment
(the last recorded session) or, before any session, the assessment date.

Sessions: each management option of the assessment that is a procedure becomes a proposal with
its technique, the sessions done so far, the lesions left (baseline count minus lesions treated,
when both are known) and the earliest date of the next session, spaced by the wound-review
interval ("review wound healing about 4-6 weeks after each session") or by the option's own
`session_interval`. When the knowledge gives the option a `lesions_per_session` planning default,
the lesions left need ceil(left / per session) more sessions, each proposed with a date.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from calcinosis.core.knowledge import Knowledge, Rule
from calcinosis.errors import UnitError
from calcinosis.registry.errors import PlanningError
from calcinosis.registry.records import PatientFile

TECHNIQUE_OF_OPTION = {
    "management.staged-rf-extraction": "rf-assisted-extraction",
    "management.surgical-excision": "excision",
    "management.co2-laser": "laser",
    "management.osteoma-options": "other",
}
"""Management options (knowledge rule ids) that are procedures, and their technique."""

SESSION_SPACING_RULE = "follow-up.wound-review"
"""The follow-up rule whose interval separates sessions (the wound heals before the next)."""


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float
    unit: str

    @property
    def text(self) -> str:
        low, high = f"{self.low:g}", f"{self.high:g}"
        return f"{low} {self.unit}" if low == high else f"{low}-{high} {self.unit}"


@dataclass(frozen=True, slots=True)
class ProposedReview:
    kind: str
    summary: str
    interval: Interval
    planned_date: dt.date
    due_by: dt.date


@dataclass(frozen=True, slots=True)
class ProposedSessions:
    technique: str
    option: str
    summary: str
    evidence_level: str
    sessions_done: int
    last_session: dt.date | None
    lesions_remaining: int | None
    sessions_needed: int | None
    """Only when the knowledge gives the option a `lesions_per_session` figure."""
    spacing: Interval | None
    next_session_from: dt.date | None
    lesions_per_session: int | None = None
    proposed_dates: tuple[dt.date, ...] = ()
    """One date per session still needed: the first from `next_session_from` (or the plan's
    anchor before any session), the others `spacing.low` apart; empty when not computable."""


@dataclass(frozen=True, slots=True)
class Plan:
    patient_id: str
    assessment_id: str
    knowledge_version: str
    anchor: dt.date
    anchor_reason: str
    sessions: tuple[ProposedSessions, ...]
    reviews: tuple[ProposedReview, ...]
    notes: tuple[str, ...] = ()


def interval_of(rule: Rule, key: str = "interval") -> Interval | None:
    value = rule.data.get(key)
    if not isinstance(value, Mapping):
        return None
    low, high, unit = value.get("low"), value.get("high"), value.get("unit")
    if not all(isinstance(v, int | float) for v in (low, high)) or not isinstance(unit, str):
        raise PlanningError(f"knowledge rule {rule.id}: {key} needs numbers low, high and a unit")
    return Interval(float(low), float(high), unit)  # type: ignore[arg-type]


def add_interval(day: dt.date, amount: float, unit: str, kb: Knowledge) -> dt.date:
    """`day` plus `amount` `unit`s: whole months and years on the calendar (3 mo after 12 Feb
    is 12 May), other durations as days through the knowledge's UCUM converter."""
    if unit in ("mo", "a") and float(amount).is_integer():
        return _add_months(day, int(amount) * (12 if unit == "a" else 1))
    try:
        days = kb.units.convert_duration_to_days(amount, unit)
    except UnitError as exc:
        raise PlanningError(f"interval unit {unit!r} is not a duration: {exc.message}") from None
    return day + dt.timedelta(days=round(days))


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def make_plan(file: PatientFile, kb: Knowledge, anchor: dt.date | None = None) -> Plan:
    assessment = file.latest_assessment()
    if assessment is None:
        raise PlanningError("no assessment is stored for this patient; record one first")
    contract = assessment.contract()
    sessions_on = sorted(p.performed_on for p in file.procedures)
    if anchor is not None:
        reason = "the date given"
    elif sessions_on:
        anchor, reason = sessions_on[-1], "the last treatment session"
    else:
        anchor, reason = assessment.as_of, "the assessment date (no session recorded yet)"
    notes: list[str] = []
    reviews = _reviews(contract, kb, anchor, notes)
    spacing_rule = kb.rules.get(SESSION_SPACING_RULE)
    fired = {item.get("id") for item in contract.get("follow_up", [])}
    spacing = interval_of(spacing_rule) if spacing_rule and SESSION_SPACING_RULE in fired else None
    sessions = tuple(
        _sessions(item, file, kb, spacing, anchor)
        for item in contract.get("management", [])
        if item.get("id") in TECHNIQUE_OF_OPTION
    )
    if kb.version != assessment.knowledge_version:
        notes.append(
            f"the assessment was made with knowledge {assessment.knowledge_version}; "
            f"intervals are from {kb.version}"
        )
    return Plan(
        patient_id=file.patient.id,
        assessment_id=assessment.id,
        knowledge_version=kb.version,
        anchor=anchor,
        anchor_reason=reason,
        sessions=sessions,
        reviews=tuple(sorted(reviews, key=lambda r: (r.planned_date, r.due_by, r.kind))),
        notes=tuple(notes),
    )


def _reviews(
    contract: Mapping[str, Any], kb: Knowledge, anchor: dt.date, notes: list[str]
) -> list[ProposedReview]:
    out = []
    for item in contract.get("follow_up", []):
        rule = kb.rules.get(str(item.get("id")))
        if rule is None:
            notes.append(
                f"follow-up {item.get('id')} is not in knowledge {kb.version}; not planned"
            )
            continue
        interval = interval_of(rule)
        if interval is None:
            notes.append(f"follow-up {rule.id} has no interval in the knowledge; not planned")
            continue
        out.append(
            ProposedReview(
                kind=rule.id,
                summary=rule.summary,
                interval=interval,
                planned_date=add_interval(anchor, interval.low, interval.unit, kb),
                due_by=add_interval(anchor, interval.high, interval.unit, kb),
            )
        )
    return out


def _sessions(
    item: Mapping[str, Any],
    file: PatientFile,
    kb: Knowledge,
    spacing: Interval | None,
    anchor: dt.date,
) -> ProposedSessions:
    option = str(item["id"])
    technique = TECHNIQUE_OF_OPTION[option]
    done = sorted(
        (p for p in file.procedures if p.technique == technique), key=lambda p: p.performed_on
    )
    last = done[-1].performed_on if done else None
    baseline = next((les.count for les in file.lesions if les.count is not None), None)
    treated = [p.lesions_treated for p in done]
    remaining = None
    if baseline is not None and all(t is not None for t in treated):
        remaining = max(baseline - sum(t for t in treated if t is not None), 0)
    rule = kb.rules.get(option)
    per_session = _per_session(rule)
    if rule is not None:
        spacing = interval_of(rule, "session_interval") or spacing
    needed = None
    if remaining is not None and per_session is not None:
        needed = math.ceil(remaining / per_session)
    next_from = None
    if last is not None and spacing is not None:
        next_from = add_interval(last, spacing.low, spacing.unit, kb)
    first = next_from if last is not None else anchor
    return ProposedSessions(
        technique=technique,
        option=option,
        summary=str(item.get("summary", "")),
        evidence_level=str(item.get("evidence_level", "")),
        sessions_done=len(done),
        last_session=last,
        lesions_remaining=remaining,
        sessions_needed=needed,
        spacing=spacing,
        next_session_from=next_from,
        lesions_per_session=per_session,
        proposed_dates=_session_dates(first, needed or 0, spacing, kb),
    )


def _per_session(rule: Rule | None) -> int | None:
    value = rule.data.get("lesions_per_session") if rule is not None else None
    if value is None:
        return None
    # bool is an int: `true` in the YAML is a typo, not one lesion per session
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        assert rule is not None
        raise PlanningError(
            f"knowledge rule {rule.id}: lesions_per_session must be a whole number >= 1"
        )
    return value


def _session_dates(
    first: dt.date | None, needed: int, spacing: Interval | None, kb: Knowledge
) -> tuple[dt.date, ...]:
    if first is None or needed == 0 or (spacing is None and needed > 1):
        return ()  # without a spacing only a single session can be dated
    dates = [first]
    while len(dates) < needed:
        assert spacing is not None
        dates.append(add_interval(dates[-1], spacing.low, spacing.unit, kb))
    return tuple(dates)
