"""The proposed session plan for staged RF-assisted extraction, on SQLite and PostgreSQL:
ceil(lesions left / lesions per session) sessions, dated from the last session (or the assessment)
and spaced by the knowledge's interval. The figures come from the knowledge data, so a changed
copy of the knowledge moves the plan; shown on the patient page and in the REST plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import pg
from calcinosis.core.knowledge import Knowledge, load_knowledge
from calcinosis.registry.errors import PlanningError
from calcinosis.registry.service import Registry
from registry_web import SEED, Clinic, clinic
from test_registry_plan import KNOWLEDGE, SECOND_SESSION, treat_the_seed

RF = "management.staged-rf-extraction"
DAY = dt.date(2026, 1, 1)
D = dt.date.fromisoformat


def with_option_data(kb: Knowledge, **data: Any) -> Knowledge:
    """A copy of the knowledge whose RF-extraction option carries `data` as well."""
    rule = kb.rules[RF]
    changed = dataclasses.replace(rule, data={**rule.data, **data})
    return dataclasses.replace(kb, rules={**kb.rules, RF: changed})


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return load_knowledge()


@pytest.fixture(params=pg.KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with pg.fresh_database(request.param, tmp_path) as made:
        yield made


def seed_with_count(registry: Registry, count: int, *, treated: bool) -> str:
    if treated:
        pid = treat_the_seed(registry)  # two sessions, 20 and 15 lesions
    else:
        done = registry.record_bundle(orjson.loads(SEED.read_bytes()), actor="dr.a", as_of=DAY)
        pid = done.patient.id
    lesion = registry.patient_file(pid, actor="dr.a").lesions[0]
    registry.update_lesion(dataclasses.replace(lesion, count=count), actor="dr.a")
    return pid


def test_sessions_follow_the_lesion_count_and_the_knowledge_value(url: str, kb: Knowledge) -> None:
    ten = with_option_data(kb, lesions_per_session=10)
    with Registry.open(url, knowledge=ten) as registry:
        pid = seed_with_count(registry, 60, treated=True)
        rf = registry.plan(pid, actor="dr.a").sessions[0]
        assert (rf.lesions_remaining, rf.lesions_per_session, rf.sessions_needed) == (25, 10, 3)
        # from 4 weeks after the last session, 4 weeks apart (the wound-review interval)
        assert rf.proposed_dates == (D("2026-03-12"), D("2026-04-09"), D("2026-05-07"))
        lesion = registry.patient_file(pid, actor="dr.a").lesions[0]
        registry.update_lesion(dataclasses.replace(lesion, count=71), actor="dr.a")
        assert registry.plan(pid, actor="dr.a").sessions[0].sessions_needed == 4  # 36 left
    with Registry.open(url, knowledge=with_option_data(kb, lesions_per_session=7)) as registry:
        rf = registry.plan(pid, actor="dr.a").sessions[0]
        assert (rf.sessions_needed, len(rf.proposed_dates)) == (6, 6)  # ceil(36 / 7)


def test_before_any_session_the_plan_starts_at_the_assessment(url: str, kb: Knowledge) -> None:
    knowledge = with_option_data(
        kb, lesions_per_session=20, session_interval={"low": 6, "high": 8, "unit": "wk"}
    )
    with Registry.open(url, knowledge=knowledge) as registry:
        pid = seed_with_count(registry, 41, treated=False)
        rf = registry.plan(pid, actor="dr.a").sessions[0]
    assert (rf.sessions_done, rf.sessions_needed) == (0, 3)
    assert rf.spacing is not None and rf.spacing.text == "6-8 wk"  # the option's own interval
    assert rf.proposed_dates == (DAY, D("2026-02-12"), D("2026-03-26"))


def test_without_a_lesion_count_or_a_figure_no_sessions_are_counted(
    url: str, kb: Knowledge
) -> None:
    with Registry.open(url, knowledge=with_option_data(kb, lesions_per_session=10)) as registry:
        pid = treat_the_seed(registry)  # the seed gives no lesion count
        rf = registry.plan(pid, actor="dr.a").sessions[0]
    assert (rf.lesions_remaining, rf.sessions_needed, rf.proposed_dates) == (None, None, ())


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "ten"])
def test_a_malformed_figure_in_the_knowledge_is_refused(
    url: str, kb: Knowledge, bad: object
) -> None:
    with Registry.open(url, knowledge=with_option_data(kb, lesions_per_session=bad)) as registry:
        pid = seed_with_count(registry, 10, treated=False)
        with pytest.raises(PlanningError, match="lesions_per_session"):
            registry.plan(pid, actor="dr.a")


def test_the_figure_is_read_from_a_changed_copy_of_the_knowledge_files(
    url: str, tmp_path: Path
) -> None:
    changed = tmp_path / "kb"
    shutil.copytree(KNOWLEDGE, changed)
    rules = changed / "rules" / "management.yaml"
    anchor = f"  - id: {RF}\n"
    text = rules.read_text()
    assert anchor in text
    if "lesions_per_session:" in text:
        text = (
            "\n".join(line for line in text.splitlines() if "lesions_per_session:" not in line)
            + "\n"
        )
    rules.write_text(text.replace(anchor, anchor + "    lesions_per_session: 5\n"))
    with Registry.open(url, knowledge=load_knowledge(changed)) as registry:
        pid = seed_with_count(registry, 60, treated=True)
        assert registry.plan(pid, actor="dr.a").sessions[0].sessions_needed == 5  # ceil(25/5)


@pytest.fixture(params=pg.KINDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Clinic]:
    with clinic(str(request.param), tmp_path) as made:
        yield made


def test_the_session_plan_is_on_the_patient_page_and_in_the_rest_plan(
    site: Clinic, kb: Knowledge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site.registry, "_knowledge", with_option_data(kb, lesions_per_session=10))
    pid = seed_with_count(site.registry, 60, treated=True)
    plan = site.api().get(f"/api/registry/patients/{pid}/plan")
    assert plan.status_code == 200, plan.text
    rf = plan.json()["sessions"][0]
    assert (rf["lesions_per_session"], rf["sessions_needed"]) == (10, 3)
    assert rf["proposed_dates"] == ["2026-03-12", "2026-04-09", "2026-05-07"]
    assert rf["last_session"] == SECOND_SESSION.isoformat()
    page: httpx.Response = site.signed_in("dr.a").get(f"/registry/patients/{pid}")
    shown = page.text.split('id="proposed-sessions-rf-assisted-extraction">')[1].split("</p>")[0]
    assert "3 more sessions proposed" in shown and "at most 10 lesions" in shown
    assert "12 Mar 2026, 9 Apr 2026, 7 May 2026" in shown
