"""The discovery document (GET /cds-services): one entry per service, each with the prefetch
templates it would like the CDS Client to fill."""

from __future__ import annotations

from typing import Any

from calcinosis.web.cdshooks.policy import CardPolicy
from calcinosis.web.cdshooks.prefetch import Template


def discovery_document(policy: CardPolicy, templates: tuple[Template, ...]) -> dict[str, Any]:
    prefetch = {t.key: t.query for t in templates}
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": " ".join(service.description.split()),
                "id": service.id,
                "prefetch": prefetch,
                "usageRequirements": " ".join(policy.usage_requirements.split()),
            }
            for service in policy.services
        ]
    }
