"""HTTP endpoints: discovery (open), the three services and their feedback (JWT-authenticated),
and the feedback counts (JSON and a page)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from calcinosis.web.body import read_json_object
from calcinosis.web.cdshooks.answer import Answerer
from calcinosis.web.cdshooks.conformance import response_problems
from calcinosis.web.cdshooks.feedback_request import parse_feedback
from calcinosis.web.cdshooks.hook_request import parse_hook_request
from calcinosis.web.cdshooks.policy import Service
from calcinosis.web.feedback import IssuedCard
from calcinosis.web.problems import FHIR_JSON, Problem
from calcinosis.web.registry.feedback import store_feedback
from calcinosis.web.ui.templating import render_page

LOG = logging.getLogger("calcinosis.cdshooks")

Authenticate = Callable[[Request], Awaitable[str]]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"description": why, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    for status, why in (
        (400, "Malformed hook request (OperationOutcome names the field)"),
        (401, "No valid JWT from a trusted CDS Client"),
        (404, "No such service"),
        (412, "Required data was neither prefetched nor obtainable from fhirServer"),
        (413, "Body larger than the configured limit"),
        (415, "Content type is not JSON"),
        (422, "The prefetched data is not one patient's record"),
    )
}


def router(answerer: Answerer, discovery: dict[str, Any], authenticate: Authenticate) -> APIRouter:
    ctx = answerer.ctx
    api = APIRouter(tags=["cds-hooks"])
    discovery_body = orjson.dumps(discovery)

    @api.get("/cds-services", summary="CDS Hooks discovery (no authentication)")
    async def services() -> Response:
        return Response(discovery_body, media_type="application/json")

    @api.post(
        "/cds-services/{service_id}",
        summary="Call a CDS Service (CDS Hooks 2.0.1)",
        responses={200: {"description": '{"cards": [...]}'}, **_REFUSALS},
    )
    async def call(service_id: str, request: Request) -> Response:
        service = _service(answerer, service_id, request)
        try:
            await _authenticated(request, authenticate)
            body = await read_json_object(request, ctx.settings.max_bytes)
            hook_request = parse_hook_request(body, service.hook)
            issued = await answerer.answer(service, hook_request)
        except Problem as problem:
            ctx.audit.record(request, service.id, problem.code)
            raise
        response = {"cards": [card.body for card in issued]}
        problems = response_problems(response)
        if problems:
            # Our bug, not the caller's: refuse rather than hand the EHR a malformed card.
            LOG.error("non-conformant CDS response withheld: %s", "; ".join(problems[:5]))
            ctx.audit.record(request, service.id, "invalid-response")
            raise Problem(500, "internal-error", "the service could not build a valid response")
        for card in issued:
            ctx.feedback.issued(
                card.uuid,
                IssuedCard(
                    service=service.id,
                    kind=card.kind,
                    suggestions=card.suggestions,
                    reasons=frozenset(
                        (r["system"], r["code"]) for r in card.body.get("overrideReasons", [])
                    ),
                ),
            )
        ctx.audit.record(request, service.id, f"cards:{len(issued)}")
        return Response(orjson.dumps(response), media_type="application/json")

    @api.post(
        "/cds-services/{service_id}/feedback",
        summary="Feedback on cards a service returned (CDS Hooks 2.0.1)",
        responses={200: {"description": "Feedback stored"}, **_REFUSALS},
    )
    async def feedback(service_id: str, request: Request) -> Response:
        service = _service(answerer, service_id, request)
        try:
            caller = await _authenticated(request, authenticate)
            items = parse_feedback(await read_json_object(request, ctx.settings.max_bytes))
        except Problem as problem:
            ctx.audit.record(request, f"{service.id}/feedback", problem.code)
            raise
        counted = [(item, ctx.feedback.add(service.id, item, caller)) for item in items]
        await store_feedback(ctx, service.id, counted)  # the registry's copy, if there is one
        ctx.audit.record(request, f"{service.id}/feedback", f"feedback:{len(items)}")
        return Response(status_code=200)

    @api.get(
        "/api/cds-feedback",
        summary="Feedback counts per service and card kind",
        tags=["cds-hooks"],
        responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
        response_class=Response,
    )
    async def feedback_counts() -> Response:
        tallies = ctx.feedback.tallies()
        body = {
            "received": len(ctx.feedback.records()),
            "counts": [tally.to_dict() for tally in tallies],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    @api.get("/feedback", response_class=HTMLResponse, include_in_schema=False)
    async def feedback_page(request: Request) -> Response:
        context = {
            "tallies": [tally.to_dict() for tally in ctx.feedback.tallies()],
            "total": len(ctx.feedback.records()),
            "api_url": "/api/cds-feedback",
        }
        return render_page(request, "feedback.html", context)

    return api


def _service(answerer: Answerer, service_id: str, request: Request) -> Service:
    service = answerer.policy.service(service_id)
    if service is None:
        raise Problem(404, "not-found", "no such CDS Service; GET /cds-services lists them")
    request.state.service_id = service.id
    return service


async def _authenticated(request: Request, authenticate: Authenticate) -> str:
    caller = await authenticate(request)
    request.state.caller = caller
    return caller
