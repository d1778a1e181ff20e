"""Planning, the due list and the timeline: the seed patient's course on SQLite and PostgreSQL,
intervals that follow the knowledge data, and the due rule on its edge cases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import calcinosis
import pg
from calcinosis.core.knowledge import load_knowledge
from calcinosis.registry.due import PatientHistory, due_list, patient_due
from calcinosis.registry.errors import PlanningError
from calcinosis.registry.planning import add_interval
from calcinosis.registry.records import FollowUpRecord
from calcinosis.registry.service import Registry

SEED = (
    Path(__file__).resolve().parents[2]
    / "shared/dev-vignettes/bundles/dev-seed-palanivel-2026.json"
)
KNOWLEDGE = Path(calcinosis.__file__).resolve().parent / "knowledge"
DAY = dt.date(2026, 1, 1)
SECOND_SESSION = dt.date(2026, 2, 12)
D = dt.date.fromisoformat


@pytest.fixture(params=pg.KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with pg.fresh_database(request.param, tmp_path) as made:
        yield made


@pytest.fixture
def registry(url: str) -> Iterator[Registry]:
    with Registry.open(url) as opened:
        yield opened


def treat_the_seed(registry: Registry) -> str:
    """The published course: recorded, two RF-assisted extraction sessions, a plan."""
    done = registry.record_bundle(orjson.loads(SEED.read_bytes()), actor="dr.a", as_of=DAY)
    pid = done.patient.id
    for day, treated in ((DAY, 20), (SECOND_SESSION, 15)):
        registry.record_procedure(
            pid,
            performed_on=day,
            technique="rf-assisted-extraction",
            lesions_treated=treated,
            actor="dr.a",
        )
    registry.schedule(registry.plan(pid, actor="dr.a"), actor="dr.a")
    return pid


def test_the_seed_course_two_sessions_a_3_month_review_then_lost_at_13_months(
    registry: Registry,
) -> None:
    pid = treat_the_seed(registry)
    reviews = {r.kind: r for r in registry.patient_file(pid, actor="dr.a").follow_ups}
    assert {k: (r.planned_date, r.due_by) for k, r in reviews.items()} == {
        "follow-up.wound-review": (D("2026-03-12"), D("2026-03-26")),
        "follow-up.recurrence-3-months": (D("2026-05-12"), D("2026-05-12")),
        "follow-up.long-term": (D("2026-08-12"), D("2027-02-12")),
    }
    three_months = reviews["follow-up.recurrence-3-months"]
    registry.record_follow_up(
        pid,
        done_date=D("2026-05-12"),
        recurrence=False,
        lesion_count=0,
        satisfaction=9,
        review=three_months,
        actor="dr.a",
    )

    def status(day: str) -> tuple[str, str, int] | None:
        entries = registry.due(D(day), actor="dr.a")
        assert [e.patient_id for e in entries] in ([], [pid])
        return (
            (entries[0].status, entries[0].review.kind, entries[0].days_overdue)
            if entries
            else None
        )

    assert status("2026-03-01") is None  # nothing due yet
    assert status("2026-03-20") == ("due", "follow-up.wound-review", 0)
    assert status("2026-04-01") == ("overdue", "follow-up.wound-review", 6)
    assert status("2026-07-01") is None  # seen at 3 months: the wound review is settled
    assert status("2026-09-01") == ("due", "follow-up.long-term", 0)
    thirteen_months = D("2027-03-12")  # 13 months after the last session
    entries = registry.due(thirteen_months, actor="dr.a")
    assert [(e.status, e.review.kind, e.days_overdue, e.last_seen) for e in entries] == [
        ("lost-to-follow-up", "follow-up.long-term", 28, D("2026-05-12"))
    ]
    kinds = [(e.date, e.kind) for e in registry.timeline(pid, actor="dr.a")]
    assert kinds == [
        (DAY, "lesions"),
        (DAY, "assessment"),
        (DAY, "session"),
        (SECOND_SESSION, "session"),
        (D("2026-03-12"), "review-planned"),
        (D("2026-05-12"), "review"),
        (D("2026-08-12"), "review-planned"),
    ]


def test_the_plan_proposes_staged_sessions_spaced_by_the_wound_review_interval(
    registry: Registry,
) -> None:
    pid = treat_the_seed(registry)
    file = registry.patient_file(pid, actor="dr.a")
    assert file.lesions[0].count is None
    registry.update_lesion(dataclasses.replace(file.lesions[0], count=60), actor="dr.a")
    plan = registry.plan(pid, actor="dr.a")
    assert (plan.anchor, plan.anchor_reason) == (SECOND_SESSION, "the last treatment session")
    rf = plan.sessions[0]
    assert (rf.technique, rf.option) == (
        "rf-assisted-extraction",
        "management.staged-rf-extraction",
    )
    assert (rf.sessions_done, rf.last_session, rf.lesions_remaining) == (2, SECOND_SESSION, 25)
    assert rf.spacing is not None and rf.spacing.text == "4-6 wk"
    assert rf.next_session_from == D("2026-03-12")
    per = registry.knowledge.rules[rf.option].data.get("lesions_per_session")
    assert rf.lesions_per_session == per
    assert rf.sessions_needed == (None if per is None else -(-25 // per))  # ceil(25 / per)
    assert [s.technique for s in plan.sessions] == ["rf-assisted-extraction", "excision", "laser"]


def test_review_intervals_come_from_the_knowledge_data(url: str, tmp_path: Path) -> None:
    changed = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, changed)
    rules = changed / "rules" / "follow-up.yaml"
    text = rules.read_text()
    assert "interval: {low: 3, high: 3, unit: mo}" in text
    rules.write_text(
        text.replace(
            "interval: {low: 3, high: 3, unit: mo}", "interval: {low: 10, high: 11, unit: wk}"
        )
    )
    with Registry.open(url, knowledge=load_knowledge(changed)) as registry:
        pid = treat_the_seed(registry)
        reviews = {r.kind: r for r in registry.patient_file(pid, actor="dr.a").follow_ups}
    assert (reviews["follow-up.recurrence-3-months"].planned_date, reviews[
        "follow-up.recurrence-3-months"].due_by) == (D("2026-04-23"), D("2026-04-30"))  # fmt: skip


def test_rescheduling_replaces_pending_reviews_and_keeps_what_took_place(
    registry: Registry,
) -> None:
    pid = treat_the_seed(registry)
    first = {r.kind: r for r in registry.patient_file(pid, actor="dr.a").follow_ups}
    registry.record_follow_up(
        pid, done_date=D("2026-03-15"), review=first["follow-up.wound-review"], actor="dr.a"
    )
    registry.record_procedure(
        pid, performed_on=D("2026-04-01"), technique="rf-assisted-extraction", actor="dr.a"
    )
    plan = registry.plan(pid, actor="dr.a")
    assert plan.anchor == D("2026-04-01")
    registry.schedule(plan, actor="dr.a")
    after = registry.patient_file(pid, actor="dr.a").follow_ups
    done = [r for r in after if r.done_date is not None]
    assert [r.id for r in done] == [first["follow-up.wound-review"].id]
    pending = sorted((r.kind, r.planned_date) for r in after if r.done_date is None)
    assert pending == [
        ("follow-up.long-term", D("2026-10-01")),
        ("follow-up.recurrence-3-months", D("2026-07-01")),
        ("follow-up.wound-review", D("2026-04-29")),
    ]


def test_a_patient_without_an_assessment_cannot_be_planned(registry: Registry) -> None:
    patient = registry.register_patient(sex="female", actor="dr.a")
    with pytest.raises(PlanningError, match="no assessment is stored"):
        registry.plan(patient.id, actor="dr.a")


def test_an_unplanned_visit_appears_in_the_timeline(registry: Registry) -> None:
    patient = registry.register_patient(sex="female", actor="dr.a")
    registry.record_follow_up(
        patient.id, done_date=DAY, recurrence=True, lesion_count=3, actor="dr.a"
    )
    [event] = registry.timeline(patient.id, actor="dr.a")
    assert (event.kind, event.lesion_count, event.recurrence) == ("review", 3, True)
    assert event.summary == "Review: recurrence; lesions 3"
    assert registry.due(DAY, actor="dr.a") == ()


# ------------------------------------------------------------------ pure: dates and the rule
KB = load_knowledge()


@pytest.mark.parametrize(
    ("start", "amount", "unit", "expected"),
    [
        ("2026-02-12", 3, "mo", "2026-05-12"),
        ("2026-01-31", 1, "mo", "2026-02-28"),
        ("2024-01-31", 1, "mo", "2024-02-29"),
        ("2026-11-30", 3, "mo", "2027-02-28"),
        ("2026-02-12", 12, "mo", "2027-02-12"),
        ("2024-02-29", 1, "a", "2025-02-28"),
        ("2026-02-12", 4, "wk", "2026-03-12"),
        ("2026-02-12", 1, "d", "2026-02-13"),
    ],
)
def test_intervals_are_added_on_the_calendar(
    start: str, amount: float, unit: str, expected: str
) -> None:
    assert add_interval(D(start), amount, unit, KB) == D(expected)


def test_an_interval_unit_that_is_no_duration_is_refused() -> None:
    with pytest.raises(PlanningError, match="interval unit 'mg' is not a duration"):
        add_interval(DAY, 3, "mg", KB)


def review(
    kind: str, planned: str, due_by: str | None = None, done: str | None = None
) -> FollowUpRecord:
    return FollowUpRecord(
        id=f"{kind}-id",
        patient_id="p",
        kind=kind,
        planned_date=D(planned),
        due_by=D(due_by) if due_by else None,
        done_date=D(done) if done else None,
        recurrence=None,
        lesion_count=None,
        satisfaction=None,
        version=1,
    )


def history(*reviews: FollowUpRecord, sessions: tuple[str, ...] = ()) -> PatientHistory:
    return PatientHistory("p", (), reviews, tuple(D(s) for s in sessions))


def test_the_due_rule_on_its_edges() -> None:
    three = review("3-months", "2026-05-12")
    long_term = review("long-term", "2026-08-12", "2027-02-12")
    both = history(three, long_term)

    def state(h: PatientHistory, day: str) -> str | None:
        entry = patient_due(h, D(day))
        return f"{entry.status}:{entry.review.kind}" if entry else None

    assert state(both, "2026-05-11") is None
    assert state(both, "2026-05-12") == "due:3-months"
    assert state(both, "2026-05-13") == "overdue:3-months"  # a later review is still ahead
    assert state(both, "2027-02-12") == "overdue:3-months"  # the long-term window is open
    assert state(both, "2027-02-13") == "lost-to-follow-up:long-term"
    done_later = history(review("3-months", "2026-05-12", done="2026-06-01"), long_term)
    assert state(done_later, "2026-05-20") == "overdue:3-months"  # judged as it was that day
    assert state(done_later, "2026-06-01") is None
    seen_at_a_session = history(three, long_term, sessions=("2026-05-20",))
    assert state(seen_at_a_session, "2026-06-01") is None  # seen since: settled
    assert state(history(), "2026-06-01") is None


def test_the_due_list_puts_the_most_urgent_first() -> None:
    lost = dataclasses.replace(history(review("a", "2026-01-01")), patient_id="lost")
    overdue = dataclasses.replace(
        history(review("a", "2026-01-01"), review("b", "2027-01-01")), patient_id="overdue"
    )
    due = dataclasses.replace(history(review("a", "2026-03-01", "2026-04-01")), patient_id="due")
    entries = due_list([due, overdue, lost], D("2026-03-15"))
    assert [(e.patient_id, e.status) for e in entries] == [
        ("lost", "lost-to-follow-up"),
        ("overdue", "overdue"),
        ("due", "due"),
    ]
