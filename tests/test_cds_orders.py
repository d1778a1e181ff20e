"""order-select and order-sign: isotretinoin ordered again for comedones that already resisted it.

Requests follow the hook library's context examples (and Inferno's CRD fixture), with an
isotretinoin MedicationRequest added to the draft orders.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from test_cds_support import (
    ORDER_SELECT,
    ORDER_SIGN,
    CdsService,
    check_conformant,
    check_refused,
    patient_of,
    running_cds,
    shared_json,
    vignette,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@pytest.fixture(scope="module")
def cds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdsService]:
    with running_cds(tmp_path_factory.mktemp("cds")) as service:
        yield service


def isotretinoin_order(patient_id: str, **medication: Any) -> dict[str, Any]:
    concept = medication or {
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "6064", "display": "isotretinoin"}],
            "text": "Isotretinoin 20 mg capsule",
        }
    }
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-isotretinoin-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [{"text": "20 mg once daily"}],
        **concept,
    }


def order_request(
    cds: CdsService,
    service_id: str,
    name: str,
    order: dict[str, Any] | None = None,
    *,
    select: bool = True,
    library: str = "01-context-fragment-example-r4.json",
) -> dict[str, Any]:
    resources = vignette(name)
    patient_id = patient_of(resources)["id"]
    hook = "order-select" if service_id == ORDER_SELECT else "order-sign"
    context = copy.deepcopy(shared_json(f"hooks-library-1.0.1/{hook}/{library}")["context"])
    order = order if order is not None else isotretinoin_order(patient_id)
    context["draftOrders"]["entry"].append({"resource": order})
    if hook == "order-select" and select:
        context["selections"].append(f"MedicationRequest/{order['id']}")
    body = cds.hook_request(service_id, resources, context=context)
    assert body["context"]["draftOrders"]["resourceType"] == "Bundle"
    return body


def the_card(cds: CdsService, service_id: str, body: dict[str, Any]) -> dict[str, Any]:
    cards = check_conformant(cds.post(service_id, body))["cards"]
    assert len(cards) == 1
    card: dict[str, Any] = cards[0]
    return card


@pytest.mark.parametrize("service_id", [ORDER_SELECT, ORDER_SIGN])
def test_isotretinoin_again_after_it_failed_gives_a_warning_with_the_alternative(
    cds: CdsService, service_id: str
) -> None:
    card = the_card(cds, service_id, order_request(cds, service_id, "dev-seed-palanivel-2026"))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Isotretinoin already failed")
    detail = card["detail"]
    assert "did not respond to isotretinoin before" in detail
    assert "suspicion: high" in detail and "**Based on**" in detail
    assert "High-frequency skin ultrasound" in detail  # the work-up instead, as text
    assert "[doi:10.46889/JDR.2026.7105](https://doi.org/10.46889/JDR.2026.7105)" in detail
    assert card["selectionBehavior"] == "any"
    remove = card["suggestions"][0]
    assert remove["isRecommended"] is True
    assert remove["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft isotretinoin order",
            "resourceId": "MedicationRequest/draft-isotretinoin-1",
        }
    ]
    assert {r["code"] for r in card["overrideReasons"]} >= {
        "other-indication",
        "calcinosis-excluded",
    }
    assert card["links"][0]["url"].startswith(f"{cds.base_url}/report/")


def test_the_card_offers_orderable_work_up_when_labs_are_missing(cds: CdsService) -> None:
    body = order_request(cds, ORDER_SIGN, "dev-seed-palanivel-2026")
    body["prefetch"]["labs"] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    card = the_card(cds, ORDER_SIGN, body)
    codes = {
        a["resource"]["code"]["coding"][0]["code"]
        for s in card["suggestions"][1:]
        for a in s["actions"]
    }
    assert {"17861-6", "2777-1", "2160-0"} <= codes
    assert "LOINC" in card["detail"]  # the LOINC citation joins the references


def test_drug_named_only_by_brand_text_is_recognised(cds: CdsService) -> None:
    patient_id = patient_of(vignette("dev-dcc-acne-nohisto-01"))["id"]
    order = isotretinoin_order(
        patient_id, medicationCodeableConcept={"text": "Absorica 25 mg oral capsule"}
    )
    card = the_card(
        cds, ORDER_SIGN, order_request(cds, ORDER_SIGN, "dev-dcc-acne-nohisto-01", order)
    )
    assert card["indicator"] == "warning"


def test_drug_given_as_a_contained_medication_reference_is_recognised(cds: CdsService) -> None:
    patient_id = patient_of(vignette("dev-seed-palanivel-2026"))["id"]
    order = isotretinoin_order(patient_id, medicationReference={"reference": "#med"})
    order["contained"] = [
        {
            "resourceType": "Medication",
            "id": "med",
            "code": {"coding": [{"system": RXNORM, "code": "6064"}]},
        }
    ]
    card = the_card(
        cds, ORDER_SELECT, order_request(cds, ORDER_SELECT, "dev-seed-palanivel-2026", order)
    )
    assert (
        card["suggestions"][0]["actions"][0]["resourceId"]
        == "MedicationRequest/draft-isotretinoin-1"
    )


def test_order_select_only_considers_the_selected_orders(cds: CdsService) -> None:
    body = order_request(cds, ORDER_SELECT, "dev-seed-palanivel-2026", select=False)
    assert check_conformant(cds.post(ORDER_SELECT, body)) == {"cards": []}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("dev-acne-moderate-01", "moderate suspicion, but isotretinoin was never tried"),
        ("dev-acne-retinoid-01", "ordinary acne: low suspicion"),
        ("dev-mmoc-01", "osteoma cutis: suspicion capped low"),
    ],
)
def test_no_card_when_isotretinoin_has_not_failed_or_suspicion_is_low(
    cds: CdsService, name: str, why: str
) -> None:
    assert check_conformant(cds.post(ORDER_SIGN, order_request(cds, ORDER_SIGN, name))) == {
        "cards": []
    }, why


@pytest.mark.parametrize("service_id", [ORDER_SELECT, ORDER_SIGN])
def test_other_drugs_need_no_data_and_get_no_card(cds: CdsService, service_id: str) -> None:
    """The library's own example (a diet and amoxicillin) with no prefetch and no fhirServer:
    nothing to check, so no 412 either."""
    hook = "order-select" if service_id == ORDER_SELECT else "order-sign"
    context = shared_json(f"hooks-library-1.0.1/{hook}/01-context-fragment-example-r4.json")[
        "context"
    ]
    body = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": context,
    }
    assert check_conformant(cds.post(service_id, body)) == {"cards": []}


def test_inferno_crd_order_select_fixture_is_answered(cds: CdsService) -> None:
    fixture = shared_json("inferno-crd-test-kit/order_select_hook_request.json")
    assert check_conformant(cds.post(ORDER_SELECT, fixture)) == {"cards": []}
    sign = shared_json("inferno-crd-test-kit/order_sign_hook_request.json")
    assert check_conformant(cds.post(ORDER_SIGN, sign)) == {"cards": []}


def test_isotretinoin_without_data_is_a_412(cds: CdsService) -> None:
    body = order_request(cds, ORDER_SIGN, "dev-seed-palanivel-2026")
    body.pop("prefetch")
    check_refused(cds.post(ORDER_SIGN, body), 412, "data-unavailable")


@pytest.mark.parametrize(
    ("service_id", "change", "message"),
    [
        (ORDER_SELECT, lambda c: c.pop("selections"), "context.selections"),
        (ORDER_SELECT, lambda c: c.update(selections=["not a reference"]), "context.selections"),
        (ORDER_SIGN, lambda c: c.pop("draftOrders"), "context.draftOrders must be a FHIR Bundle"),
        (
            ORDER_SIGN,
            lambda c: c.update(draftOrders={"resourceType": "MedicationRequest"}),
            "context.draftOrders",
        ),
        (
            ORDER_SIGN,
            lambda c: c["draftOrders"].update(entry=[{"resource": "x"}]),
            "entry[0].resource",
        ),
    ],
)
def test_malformed_order_context_is_a_400(
    cds: CdsService, service_id: str, change: Any, message: str
) -> None:
    body = order_request(cds, service_id, "dev-seed-palanivel-2026")
    change(body["context"])
    outcome = check_refused(cds.post(service_id, body), 400, "invalid-hook-request")
    assert message in outcome["issue"][0]["details"]["text"]


def test_a_patient_view_request_sent_to_order_sign_is_refused(cds: CdsService) -> None:
    body = order_request(cds, ORDER_SIGN, "dev-seed-palanivel-2026")
    body["hook"] = "patient-view"
    check_refused(cds.post(ORDER_SIGN, body), 400, "invalid-hook-request")
