"""CDS Hooks feedback is stored in the registry's cds_feedback table as well as counted in
memory, on SQLite and PostgreSQL, with the override reason bounded to what our card offered."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import pg
from calcinosis.registry.models import CdsFeedbackRow
from registry_web import Clinic, clinic
from test_cds_support import patient_of, prefetch_for, shared_json, vignette

PATIENT_VIEW = "calcinosis-patient-view"


@pytest.fixture(scope="module", params=pg.KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    folder = tmp_path_factory.mktemp("feedback")
    with clinic(str(request.param), folder, insecure_dev=True) as made:
        yield made


def stored(site: Clinic) -> list[tuple[str, str, str, str | None, dt.datetime]]:
    with Session(site.registry.engine) as session:
        rows = session.scalars(select(CdsFeedbackRow).order_by(CdsFeedbackRow.outcome_at))
        return [
            (r.service_id, r.card_uuid, r.outcome, r.override_reason_code, r.outcome_at)
            for r in rows
        ]


def a_card(site: Clinic) -> dict[str, Any]:
    client = site.client()
    service = next(
        s for s in client.get("/cds-services").json()["services"] if s["id"] == PATIENT_VIEW
    )
    resources = vignette("dev-seed-palanivel-2026")
    patient_id = patient_of(resources)["id"]
    example = shared_json("spec-2.0.1/02-hook-request-example.json")
    body = {
        "hookInstance": str(uuid.uuid4()),
        "hook": service["hook"],
        "context": {**example["context"], "patientId": patient_id},
        "prefetch": prefetch_for(service, resources, patient_id),
    }
    answer = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert answer.status_code == 200, answer.text
    card: dict[str, Any] = answer.json()["cards"][0]
    return card


def test_feedback_is_kept_in_the_registry_with_bounded_reasons(site: Clinic) -> None:
    card = a_card(site)
    offered = card["overrideReasons"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": offered, "userComment": "the patient declined"},
                "outcomeTimestamp": "2026-03-01T10:05:31Z",
            },
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "made-up", "system": "urn:x"}},
                "outcomeTimestamp": "2026-03-01T10:06:00+01:00",
            },
        ]
    }
    response = site.client().post(f"/cds-services/{PATIENT_VIEW}/feedback", json=feedback)
    assert response.status_code == 200
    rows = stored(site)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (PATIENT_VIEW, card["uuid"], "overridden", "other"),
        (PATIENT_VIEW, card["uuid"], "overridden", offered["code"]),
    ]
    assert rows[1][4] == dt.datetime(2026, 3, 1, 10, 5, 31, tzinfo=dt.UTC)
    assert "declined" not in repr(rows)  # comments are counted, never stored
    counted = site.client().get("/api/cds-feedback").json()
    assert counted["received"] == 2
