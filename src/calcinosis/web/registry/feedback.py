"""CDS Hooks feedback kept in the registry too (table cds_feedback), when there is a registry.

The in-memory counts (web/feedback.py) say what the cards said since the server started; the
registry keeps each item for good. The override reason stored is the one the in-memory store
settled on: a reason our card offered, by its code, or "other" — never free text from the EHR.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import anyio

from calcinosis.registry.errors import InvalidRecordError, RegistryError
from calcinosis.web.context import AppContext
from calcinosis.web.feedback import Feedback, FeedbackRecord
from calcinosis.web.problems import Problem

LOG = logging.getLogger("calcinosis.web.registry")


async def store_feedback(
    ctx: AppContext, service_id: str, items: Sequence[tuple[Feedback, FeedbackRecord]]
) -> None:
    """Store the items; 503 when the registry cannot take them (the EHR may send them again)."""
    registry = ctx.registry
    if registry is None or not items:
        return

    def store() -> None:
        for item, counted in items:
            stamp = item.outcome_timestamp.upper().replace("Z", "+00:00")
            try:
                registry.record_cds_feedback(
                    service_id=service_id,
                    card_uuid=item.card,
                    outcome=item.outcome,
                    outcome_at=dt.datetime.fromisoformat(stamp),
                    override_reason_code=counted.override_reason,
                )
            except InvalidRecordError as exc:  # e.g. a card id longer than any we issue
                LOG.warning("CDS feedback item not stored: %s", exc.message)

    try:
        await anyio.to_thread.run_sync(store)
    except RegistryError as exc:
        LOG.error("CDS feedback not stored in the registry: %s", exc.code)
        raise Problem(
            503, "registry-unavailable", "the feedback could not be stored; send it again later"
        ) from None
