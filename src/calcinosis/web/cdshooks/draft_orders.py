"""Find a drug among the draft orders of an order-select / order-sign request.

A MedicationRequest names the drug by an RxNorm ingredient code the knowledge lists, or by text
(the code's display, `text`, or a referenced Medication's code) matching the knowledge's
synonyms. Product-level RxNorm codes are not listed on purpose: their display text carries the
ingredient name and is matched instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from calcinosis.core.codes import CodeSystem
from calcinosis.core.knowledge import Knowledge
from calcinosis.web.cdshooks.hook_request import HookRequest

_ORDER_TYPES = ("MedicationRequest",)


def orders_for(request: HookRequest, kb: Knowledge, drug: str) -> list[Mapping[str, Any]]:
    """The considered draft orders (for order-select only the selected ones) that order `drug`."""
    found = []
    for order in considered_orders(request):
        if order.get("resourceType") in _ORDER_TYPES and drug in drugs_of(order, request, kb):
            found.append(order)
    return found


def considered_orders(request: HookRequest) -> Iterator[Mapping[str, Any]]:
    selected = set(request.selections)
    for order in request.draft_orders:
        if request.hook == "order-select" and _reference(order) not in selected:
            continue
        yield order


def drugs_of(order: Mapping[str, Any], request: HookRequest, kb: Knowledge) -> set[str]:
    """Medication concept ids the order names, by code or by text."""
    concepts: set[str] = set()
    for concept in _medication_concepts(order, request):
        for coding in concept.get("coding") or []:
            if not isinstance(coding, Mapping):
                continue
            if coding.get("system") == CodeSystem.RXNORM.value and isinstance(
                coding.get("code"), str
            ):
                concepts.update(kb.codes.get(("rxnorm", coding["code"].strip()), ()))
            if isinstance(coding.get("display"), str):
                concepts.update(_named(coding["display"], kb))
        if isinstance(concept.get("text"), str):
            concepts.update(_named(concept["text"], kb))
    return {c for c in concepts if c in kb.concepts and kb.concepts[c].kind == "medication"}


def _named(text: str, kb: Knowledge) -> set[str]:
    return {hit.concept for hit in kb.medication_matcher.find(text) if not hit.negated}


def _medication_concepts(
    order: Mapping[str, Any], request: HookRequest
) -> Iterator[Mapping[str, Any]]:
    concept = order.get("medicationCodeableConcept")
    if isinstance(concept, Mapping):
        yield concept
    reference = order.get("medicationReference")
    if isinstance(reference, Mapping):
        medication = _resolve(reference.get("reference"), order, request)
        if medication is not None and isinstance(medication.get("code"), Mapping):
            yield medication["code"]
        if isinstance(reference.get("display"), str):
            yield {"text": reference["display"]}


def _resolve(
    reference: Any, order: Mapping[str, Any], request: HookRequest
) -> Mapping[str, Any] | None:
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        candidates: Iterator[Any] = iter(order.get("contained") or [])
        wanted = ("Medication", reference[1:])
    else:
        candidates = iter(request.draft_orders)
        kind, _, rid = reference.rstrip("/").rpartition("/")
        wanted = (kind.rpartition("/")[2], rid)
    for item in candidates:
        if isinstance(item, Mapping) and (item.get("resourceType"), item.get("id")) == wanted:
            return item
    return None


def _reference(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"
