"""Cards (CDS Hooks 2.0.1) from an assessment and the card policy.

A card's headline and urgency come from the policy (knowledge/cds.yaml); its detail carries the
engine's own statements, the findings they rest on and the literature they cite, so a clinician
can see why without opening anything. Work-up the knowledge maps to orderable LOINC codes
(knowledge/orders.yaml) is offered as draft ServiceRequests; the rest stays text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from calcinosis.core.assessment import Assessment, Citation, Finding, Statement
from calcinosis.core.codes import CodeSystem
from calcinosis.core.knowledge import Knowledge
from calcinosis.core.orders import Orders
from calcinosis.web.cdshooks import markdown as md
from calcinosis.web.cdshooks.hook_request import HookRequest
from calcinosis.web.cdshooks.policy import CardPolicy, Headline, IsotretinoinRule, Reason

MAX_FINDINGS = 10
MAX_MISSING = 5


@dataclass
class Card:
    kind: str
    """The policy's headline id (or the order rule's id): what feedback is counted under."""
    body: dict[str, Any]
    suggestions: dict[str, str] = field(default_factory=dict)
    """suggestion uuid -> what it proposes (work-up id, or "remove-order")."""

    @property
    def uuid(self) -> str:
        return str(self.body["uuid"])


@dataclass(frozen=True)
class CardContext:
    """What every card needs besides the assessment."""

    kb: Knowledge
    policy: CardPolicy
    orders: Orders
    request: HookRequest
    base_url: str
    report_url: str
    unavailable: Sequence[str] = ()
    truncated: Sequence[str] = ()


def headline(assessment: Assessment, policy: CardPolicy) -> Headline | None:
    """The headline for patient-view, or None when there is nothing worth a card."""
    level, ctype = assessment.dcc_suspicion.level, assessment.calcinosis.type
    warnings = {w.id for w in assessment.warnings}
    quiet = policy.quiet
    if level in quiet.suspicion and ctype in quiet.types and warnings <= quiet.warnings:
        return None
    for candidate in policy.headlines:
        if candidate.matches(level, ctype, warnings):
            return candidate
    return policy.fallback


def patient_view_card(assessment: Assessment, chosen: Headline, cc: CardContext) -> Card:
    quiet = cc.policy.quiet
    shown: list[Any] = []
    parts: list[str] = []
    if assessment.dcc_suspicion.level not in quiet.suspicion:
        s = assessment.dcc_suspicion
        parts.append(_suspicion_line(s.level, s.summary))
        shown.append(s)
    if assessment.calcinosis.type not in quiet.types:
        c = assessment.calcinosis
        parts.append(f"**Type of calcinosis: {md.escape(c.type)}.** {md.escape(c.summary)}")
        shown.append(c)
    if assessment.warnings:
        parts.append(
            md.section("Warnings", md.bullets(md.paragraph(w.summary) for w in assessment.warnings))
        )
        shown.extend(assessment.warnings)
    card = _card(chosen.id, chosen.indicator, chosen.summary, cc, cc.policy.override_reasons)
    suggestions = _workup_suggestions(assessment, cc)
    parts.extend(
        _workup_and_after(assessment, shown, cc, extra_citations=_order_citations(suggestions, cc))
    )
    card.body["detail"] = "\n\n".join(parts)
    _attach(card, suggestions)
    return card


def isotretinoin_card(
    assessment: Assessment,
    rule: IsotretinoinRule,
    orders: Sequence[Mapping[str, Any]],
    cc: CardContext,
) -> Card:
    s = assessment.dcc_suspicion
    parts = [
        md.paragraph(rule.why),
        _suspicion_line(s.level, s.summary),
    ]
    card = _card(rule.id, rule.indicator, rule.summary, cc, rule.override_reasons)
    removable = [o for o in orders if isinstance(o.get("id"), str) and o.get("id")]
    suggestions: list[tuple[str, dict[str, Any]]] = []
    if removable:
        suggestions.append(
            (
                "remove-order",
                {
                    "label": rule.remove_label,
                    "uuid": str(uuid.uuid4()),
                    "isRecommended": True,
                    "actions": [
                        {
                            "type": "delete",
                            "description": rule.remove_description,
                            "resourceId": f"{o['resourceType']}/{o['id']}",
                        }
                        for o in removable
                    ],
                },
            )
        )
    suggestions.extend(_workup_suggestions(assessment, cc))
    parts.extend(
        _workup_and_after(
            assessment,
            [s],
            cc,
            extra_citations=(*rule.citations, *_order_citations(suggestions, cc)),
        )
    )
    card.body["detail"] = "\n\n".join(parts)
    _attach(card, suggestions)
    return card


def _suspicion_line(level: str, summary: str) -> str:
    title = f"Dystrophic calcinosis cutis behind the comedones, suspicion: {level}."
    return f"**{md.escape(title)}** {md.escape(summary)}"


def _card(
    kind: str, indicator: str, summary: str, cc: CardContext, reasons: Iterable[Reason]
) -> Card:
    policy = cc.policy
    body: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": indicator,
        "source": {
            "label": policy.source_label,
            "url": f"{cc.base_url}/",
            "topic": _coding(policy.topic_system, policy.topic),
        },
        "links": [{"label": "Full Calcinosis report", "url": cc.report_url, "type": "absolute"}],
        "overrideReasons": [_coding(policy.reason_system, r) for r in reasons],
    }
    return Card(kind=kind, body=body)


def _coding(system: str, reason: Reason) -> dict[str, str]:
    return {"system": system, "code": reason.code, "display": reason.display}


def _attach(card: Card, suggestions: list[tuple[str, dict[str, Any]]]) -> None:
    if not suggestions:
        return
    card.body["suggestions"] = [s for _, s in suggestions]
    card.body["selectionBehavior"] = "any"
    card.suggestions = {s["uuid"]: kind for kind, s in suggestions}


def _workup_suggestions(
    assessment: Assessment, cc: CardContext
) -> list[tuple[str, dict[str, Any]]]:
    """One suggestion per work-up item with orderable codes; a code is proposed only once."""
    used: set[str] = set()
    out = []
    for item in assessment.workup:
        orderables = [o for o in cc.orders.for_workup(item.id) if o.loinc not in used]
        if not orderables:
            continue
        used.update(o.loinc for o in orderables)
        names = [cc.kb.analytes[cc.kb.loinc_to_analyte[o.loinc]].label for o in orderables]
        out.append(
            (
                item.id,
                {
                    "label": _shorten("Order " + ", ".join(names), 120),
                    "uuid": str(uuid.uuid4()),
                    "actions": [
                        {
                            "type": "create",
                            "description": f"Order {o.display} (LOINC {o.loinc})",
                            "resource": _service_request(
                                o.loinc, o.display, name, item, cc.request
                            ),
                        }
                        for o, name in zip(orderables, names, strict=True)
                    ],
                },
            )
        )
    return out


def _service_request(
    code: str, display: str, name: str, item: Statement, request: HookRequest
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [{"system": CodeSystem.LOINC.value, "code": code, "display": display}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{request.patient_id}"},
        "reasonCode": [{"text": item.summary}],
    }
    if request.encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{request.encounter_id}"}
    if request.user_id and request.user_id.startswith(("Practitioner/", "PractitionerRole/")):
        resource["requester"] = {"reference": request.user_id}
    return resource


def _order_citations(
    suggestions: list[tuple[str, dict[str, Any]]], cc: CardContext
) -> tuple[str, ...]:
    return cc.orders.citations if any(kind != "remove-order" for kind, _ in suggestions) else ()


def _workup_and_after(
    assessment: Assessment,
    shown: list[Any],
    cc: CardContext,
    *,
    extra_citations: Iterable[str] = (),
) -> list[str]:
    """The shared lower half of a detail: work-up, missing data, basis, gaps, references."""
    parts = []
    if assessment.workup:
        parts.append(
            md.section(
                "Work-up to consider",
                md.bullets(md.paragraph(w.summary) for w in assessment.workup),
            )
        )
        shown = [*shown, *assessment.workup]
    if assessment.missing_data:
        parts.append(
            md.section(
                "Missing data that would change the answer",
                md.bullets(
                    f"{md.paragraph(m.summary)}: {md.escape(m.would_change)}"
                    for m in assessment.missing_data[:MAX_MISSING]
                ),
            )
        )
    findings = _findings(shown)
    if findings:
        lines = [
            f"{md.paragraph(f.summary)} ({md.escape(f.reference)})" for f in findings[:MAX_FINDINGS]
        ]
        if len(findings) > MAX_FINDINGS:
            lines.append(f"and {len(findings) - MAX_FINDINGS} more in the full report")
        parts.append(md.section("Based on", md.bullets(lines)))
    if cc.unavailable:
        parts.append(
            md.section(
                "Not available to this assessment",
                md.bullets(md.paragraph(label) for label in cc.unavailable),
            )
        )
    if cc.truncated:
        parts.append(
            md.section(
                "Only partly read", md.bullets(md.paragraph(label) for label in cc.truncated)
            )
        )
    citations = _citations(shown, extra_citations, cc.kb)
    if citations:
        parts.append(md.section("References", md.bullets(md.citation(c) for c in citations)))
    parts.append(
        "_Decision support for a clinician's judgement, not a diagnosis. "
        f"Knowledge base {md.escape(assessment.knowledge_version)}, "
        f"assessed {md.escape(assessment.as_of)}._"
    )
    return parts


def _findings(statements: Iterable[Any]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for statement in statements:
        for finding in statement.basis.findings:
            seen.setdefault(finding.reference, finding)
    return list(seen.values())


def _citations(statements: Iterable[Any], extra: Iterable[str], kb: Knowledge) -> list[Citation]:
    ids: dict[str, None] = {}
    for statement in statements:
        ids.update(dict.fromkeys(statement.basis.citations))
    ids.update(dict.fromkeys(extra))
    return [kb.citations[cid] for cid in ids if cid in kb.citations]


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,") + "…"
