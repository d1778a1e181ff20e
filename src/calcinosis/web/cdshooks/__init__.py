"""HL7 CDS Hooks 2.0.1 service: patient-view, order-select and order-sign.

    GET  /cds-services                      discovery (open, as the spec expects)
    POST /cds-services/{id}                 a hook call: Bearer JWT from a trusted client
    POST /cds-services/{id}/feedback        what the clinician did with the cards
    GET  /api/cds-feedback, GET /feedback   feedback counts (JSON, page)

Everything is checked when the app is built: the card policy (knowledge/cds.yaml), the orderable
codes (knowledge/orders.yaml) and the trusted-clients file, so a bad deployment fails at start-up
with a message naming the file and the entry.
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI
from starlette.requests import Request

from calcinosis.core.orders import load_orders
from calcinosis.web.cdshooks import prefetch
from calcinosis.web.cdshooks.answer import Answerer
from calcinosis.web.cdshooks.auth import Authenticator
from calcinosis.web.cdshooks.discovery import discovery_document
from calcinosis.web.cdshooks.policy import load_policy
from calcinosis.web.cdshooks.routes import Authenticate, router
from calcinosis.web.cdshooks.trusted_clients import KeySetCache, load_trusted_clients
from calcinosis.web.context import AppContext
from calcinosis.web.settings import Settings

LOG = logging.getLogger("calcinosis.cdshooks")
INSECURE_CALLER = "insecure-dev"


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the CDS Hooks routes to `app`."""
    kb = ctx.knowledge
    policy = load_policy(kb)
    templates = prefetch.templates(kb)
    answerer = Answerer(ctx, policy, load_orders(kb), templates)
    app.include_router(
        router(answerer, discovery_document(policy, templates), _authenticator(ctx.settings))
    )
    # The first assessment in a process pays for imports and unit tables (seconds); pay it now,
    # off the request path, so an EHR's first hook call is answered as fast as the others.
    threading.Thread(target=_warm_up, args=(ctx,), name="cds-warm-up", daemon=True).start()


def _warm_up(ctx: AppContext) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "warm-up", "gender": "unknown"}},
            {"resource": {"resourceType": "Condition", "code": {"text": "acne"}}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "serum calcium"},
                    "valueQuantity": {"value": 9.5, "unit": "mg/dL"},
                }
            },
        ],
    }
    try:
        ctx.assess(bundle)
    except Exception:  # a warm-up must never take the service down; requests will report it
        LOG.exception("CDS Hooks warm-up assessment failed")


def _authenticator(settings: Settings) -> Authenticate:
    if settings.insecure_dev:
        LOG.warning(
            "INSECURE: CDS Hooks JWT checks are OFF (insecure_dev). Anyone who can reach this "
            "service can call it. Never run like this with real patient data."
        )

        async def anyone(request: Request) -> str:
            return INSECURE_CALLER

        return anyone
    clients = load_trusted_clients(settings.cds_clients) if settings.cds_clients else {}
    if not clients:
        LOG.warning(
            "no trusted CDS Clients are configured (CALCINOSIS_CDS_CLIENTS): every CDS Hooks "
            "call will be refused with 401"
        )
    key_sets = KeySetCache(settings.jwks_cache_ttl_s, settings.fhir_timeout_s)
    return Authenticator(clients, key_sets, settings.base_url, settings.clock_skew_s).authenticate
