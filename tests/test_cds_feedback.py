"""POST /cds-services/{id}/feedback (the spec's three examples, with our card uuids), the counts
at GET /api/cds-feedback and the /feedback page, and the store's bounds under threads."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from calcinosis.web.feedback import Feedback, FeedbackStore, IssuedCard
from test_cds_support import (
    ORDER_SIGN,
    PATIENT_VIEW,
    CdsService,
    check_conformant,
    check_refused,
    running_cds,
    shared_json,
    vignette,
)

ACCEPTED = "spec-2.0.1/19-feedback-request-example-suggestion-accepted.json"
OVERRIDDEN = (
    "spec-2.0.1/20-feedback-request-example-overridden-guidance-without-overridereason.json"
)
WITH_REASON = "spec-2.0.1/21-feedback-request-example-overridden-guidance-with-overridereason.json"


@pytest.fixture
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdsService]:
    """A fresh service per test: counts start at zero."""
    with running_cds(tmp_path_factory.mktemp("cds")) as service:
        yield service


def card_for(cds: CdsService, name: str) -> dict[str, Any]:
    body = check_conformant(cds.post(PATIENT_VIEW, cds.hook_request(PATIENT_VIEW, vignette(name))))
    card: dict[str, Any] = body["cards"][0]
    return card


def example(name: str, card: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(shared_json(name))
    body["feedback"][0]["card"] = card
    body["feedback"][0].update(changes)
    return body


def counts(cds: CdsService) -> dict[str, Any]:
    response = httpx.get(f"{cds.base_url}/api/cds-feedback")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_accepted_suggestions_are_counted_by_what_they_proposed(cds: CdsService) -> None:
    card = card_for(cds, "dev-acne-moderate-01")
    first, second = card["suggestions"][:2]
    accepted = example(
        ACCEPTED, card["uuid"], acceptedSuggestions=[{"id": first["uuid"]}, {"id": second["uuid"]}]
    )
    response = cds.post(PATIENT_VIEW, accepted, feedback=True)
    assert response.status_code == 200 and response.content == b""
    assert counts(cds) == {
        "received": 1,
        "counts": [
            {
                "service": PATIENT_VIEW,
                "card": "dcc-moderate",
                "accepted": 1,
                "overridden": 0,
                "overridden_with_comment": 0,
                "accepted_suggestions": {
                    "workup.serum-calcium-albumin": 1,
                    "workup.serum-phosphate": 1,
                },
            }
        ],
    }
    assert cds.ctx.audit.records()[-1].outcome == "feedback:1"


def test_overrides_with_and_without_a_reason_are_counted(cds: CdsService) -> None:
    card = card_for(cds, "dev-seed-palanivel-2026")
    reason = card["overrideReasons"][1]
    with_reason = example(WITH_REASON, card["uuid"])
    with_reason["feedback"][0]["overrideReason"]["reason"] = {
        "system": reason["system"],
        "code": reason["code"],
    }
    for body in (example(OVERRIDDEN, card["uuid"]), with_reason):
        assert cds.post(PATIENT_VIEW, body, feedback=True).status_code == 200
    (tally,) = counts(cds)["counts"]
    assert tally == {
        "service": PATIENT_VIEW,
        "card": "dcc-high",
        "accepted": 0,
        "overridden": 2,
        "overridden_with_comment": 1,
        "override_reasons": {reason["code"]: 1},
    }


def test_the_spec_examples_as_sent_count_as_unknown_cards_and_other_reasons(
    cds: CdsService,
) -> None:
    for name in (ACCEPTED, OVERRIDDEN, WITH_REASON):
        assert cds.post(PATIENT_VIEW, shared_json(name), feedback=True).status_code == 200
    (tally,) = counts(cds)["counts"]
    assert tally["card"] == "unknown-card"
    assert (tally["accepted"], tally["overridden"]) == (1, 2)
    assert tally["override_reasons"] == {"other": 1}
    assert tally["accepted_suggestions"] == {"unknown-card": 1}


def test_feedback_to_another_service_than_the_issuer_is_not_attributed(cds: CdsService) -> None:
    card = card_for(cds, "dev-seed-palanivel-2026")
    assert cds.post(ORDER_SIGN, example(OVERRIDDEN, card["uuid"]), feedback=True).status_code == 200
    (tally,) = counts(cds)["counts"]
    assert (tally["service"], tally["card"]) == (ORDER_SIGN, "unknown-card")


def test_the_feedback_page_shows_the_counts(cds: CdsService) -> None:
    card = card_for(cds, "dev-calciphylaxis-hd-01")
    cds.post(PATIENT_VIEW, example(OVERRIDDEN, card["uuid"]), feedback=True)
    page = httpx.get(f"{cds.base_url}/feedback", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<title>CDS Hooks feedback" in html
    assert "<td>calciphylaxis</td>" in html and f"<td>{PATIENT_VIEW}</td>" in html
    assert "1 feedback item)" in html


def test_the_feedback_page_escapes_what_clients_sent(cds: CdsService) -> None:
    body = example(OVERRIDDEN, "<script>alert(1)</script>")
    cds.post(PATIENT_VIEW, body, feedback=True)
    html = httpx.get(f"{cds.base_url}/feedback").text
    assert "<script>alert(1)</script>" not in html


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.update(feedback=[]), "feedback must be a non-empty array"),
        (lambda b: b.pop("feedback"), "feedback must be a non-empty array"),
        (lambda b: b["feedback"][0].pop("card"), "feedback[0].card"),
        (
            lambda b: b["feedback"][0].update(outcome="ignored"),
            "outcome must be accepted or overridden",
        ),
        (lambda b: b["feedback"][0].pop("outcomeTimestamp"), "outcomeTimestamp"),
        (lambda b: b["feedback"][0].update(outcomeTimestamp="11/12/2021"), "RFC 3339"),
        (
            lambda b: b["feedback"][0].update(outcomeTimestamp="2021-13-40T10:05:31Z"),
            "not a valid date-time",
        ),
        (lambda b: b["feedback"][0].pop("acceptedSuggestions"), "acceptedSuggestions is required"),
        (
            lambda b: b["feedback"][0].update(acceptedSuggestions=[{"uuid": "x"}]),
            "acceptedSuggestions[0].id",
        ),
        (
            lambda b: b["feedback"][0].update(acceptedSuggestions=["x"]),
            "acceptedSuggestions[0] must be an object",
        ),
        (
            lambda b: b["feedback"][0].update(
                overrideReason={"reason": {"code": "x", "system": "urn:x"}}
            ),
            "only for an overridden outcome",
        ),
        (lambda b: b.update(feedback=[b["feedback"][0]] * 101), "at most 100"),
    ],
)
def test_malformed_feedback_is_a_400(cds: CdsService, change: Any, message: str) -> None:
    body = copy.deepcopy(shared_json(ACCEPTED))
    change(body)
    outcome = check_refused(cds.post(PATIENT_VIEW, body, feedback=True), 400, "invalid-feedback")
    assert message in outcome["issue"][0]["details"]["text"]
    assert counts(cds)["received"] == 0


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ({}, "needs a reason or a userComment"),
        ({"reason": {"code": "x"}}, "reason.system"),
        ({"reason": "x"}, "reason must be a Coding"),
        ({"userComment": ""}, "userComment must be a non-empty string"),
    ],
)
def test_malformed_override_reasons_are_a_400(
    cds: CdsService, reason: dict[str, Any], message: str
) -> None:
    body = example(OVERRIDDEN, "card", overrideReason=reason)
    outcome = check_refused(cds.post(PATIENT_VIEW, body, feedback=True), 400, "invalid-feedback")
    assert message in outcome["issue"][0]["details"]["text"]


def test_the_store_is_thread_safe_and_bounded() -> None:
    store = FeedbackStore(keep_cards=50, keep_records=100)
    issued = IssuedCard("svc", "kind", {"s1": "workup.x"}, frozenset({("urn:r", "a")}))
    for number in range(60):
        store.issued(f"card-{number}", issued)
    item = Feedback(
        card="card-59",
        outcome="accepted",
        outcome_timestamp="2026-01-01T00:00:00Z",
        accepted_suggestions=("s1",),
    )
    forgotten = Feedback(
        card="card-0",
        outcome="overridden",
        outcome_timestamp="2026-01-01T00:00:00Z",
        override_reason=("urn:r", "a"),
    )

    def work() -> None:
        for _ in range(250):
            store.add("svc", item, "caller")
            store.add("svc", forgotten, "caller")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tallies = {t.card_kind: t for t in store.tallies()}
    assert tallies["kind"].accepted == 2000 and tallies["kind"].suggestions == {"workup.x": 2000}
    assert tallies["unknown-card"].overridden == 2000  # card-0 was evicted: not attributed
    assert tallies["unknown-card"].reasons == {"other": 2000}
    assert len(store.records()) == 100
