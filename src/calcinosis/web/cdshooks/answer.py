"""From a validated hook request to the cards: gather the data, assess, apply the card policy.

patient-view: one card headed by the policy, or none when the record gives nothing to say.
order-select / order-sign: a card only when a considered draft order is the policy's drug, the
comedones already resisted it (the policy's rule is in the suspicion basis) and the suspicion is
at one of the policy's levels. Without such an order no data is read at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from calcinosis.core.assessment import Assessment
from calcinosis.core.orders import Orders
from calcinosis.web.cdshooks.cards import (
    Card,
    CardContext,
    headline,
    isotretinoin_card,
    patient_view_card,
)
from calcinosis.web.cdshooks.draft_orders import orders_for
from calcinosis.web.cdshooks.gather import Collected, collect
from calcinosis.web.cdshooks.hook_request import HookRequest
from calcinosis.web.cdshooks.policy import CardPolicy, Service
from calcinosis.web.cdshooks.prefetch import Template
from calcinosis.web.context import AppContext


@dataclass(frozen=True)
class Answerer:
    ctx: AppContext
    policy: CardPolicy
    orders: Orders
    templates: tuple[Template, ...]

    async def answer(self, service: Service, request: HookRequest) -> list[Card]:
        if service.hook == "patient-view":
            return await self._patient_view(service, request)
        return await self._order(service, request)

    async def _patient_view(self, service: Service, request: HookRequest) -> list[Card]:
        collected, assessment = await self._assess(request)
        chosen = headline(assessment, self.policy)
        if chosen is None:
            return []
        context = self._card_context(service, request, collected, assessment)
        return [patient_view_card(assessment, chosen, context)]

    async def _order(self, service: Service, request: HookRequest) -> list[Card]:
        rule = self.policy.isotretinoin
        ordered = orders_for(request, self.ctx.knowledge, rule.drug)
        if not ordered:
            return []
        collected, assessment = await self._assess(request)
        suspicion = assessment.dcc_suspicion
        if suspicion.level not in rule.suspicion or rule.resisted_rule not in suspicion.basis.rules:
            return []
        context = self._card_context(service, request, collected, assessment)
        return [isotretinoin_card(assessment, rule, ordered, context)]

    async def _assess(self, request: HookRequest) -> tuple[Collected, Assessment]:
        settings = self.ctx.settings
        collected = await collect(
            request, self.templates, settings.fhir_timeout_s, settings.max_bytes
        )
        # Inline, not in a worker thread: the engine takes about a millisecond and holds the GIL
        # throughout, so a thread would add a hand-off without freeing anything.
        assessment = self.ctx.assess(collected.bundle)
        return collected, assessment

    def _card_context(
        self,
        service: Service,
        request: HookRequest,
        collected: Collected,
        assessment: Assessment,
    ) -> CardContext:
        report = self.ctx.reports.add(assessment, f"cds:{service.id}")
        base = self.ctx.settings.base_url
        return CardContext(
            kb=self.ctx.knowledge,
            policy=self.policy,
            orders=self.orders,
            request=request,
            base_url=base,
            report_url=f"{base}/report/{report.id}",
            unavailable=tuple(collected.unavailable),
            truncated=tuple(collected.truncated),
        )
