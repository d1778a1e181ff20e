"""What every route needs, built once per app: settings, knowledge, stores, the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request

import calcinosis
from calcinosis.core.assessment import Assessment
from calcinosis.core.knowledge import Knowledge
from calcinosis.errors import InputError
from calcinosis.web.feedback import FeedbackStore
from calcinosis.web.observability import AuditTrail
from calcinosis.web.problems import Problem
from calcinosis.web.reports import ReportStore
from calcinosis.web.settings import Settings

if TYPE_CHECKING:
    from calcinosis.registry.service import Registry
    from calcinosis.web.auth.state import Auth


@dataclass
class AppContext:
    settings: Settings
    knowledge: Knowledge
    reports: ReportStore
    audit: AuditTrail = field(default_factory=AuditTrail)
    feedback: FeedbackStore = field(default_factory=FeedbackStore)
    registry: Registry | None = None
    """The clinic registry when settings.database_url names one (web/registry installs it)."""
    auth: Auth | None = None
    """Sign-in and API tokens; present exactly when the registry is (web/auth installs it)."""

    def assess(self, bundle: dict[str, Any], as_of: dt.date | None = None) -> Assessment:
        """The engine on one bundle; bad input becomes a Problem with the contract's code."""
        try:
            return calcinosis.assess_bundle(bundle, as_of=as_of, knowledge=self.knowledge)
        except InputError as exc:
            raise Problem.from_error(exc) from None


def context_of(request: Request) -> AppContext:
    return context_of_app(request.app)


def context_of_app(app: Starlette) -> AppContext:
    ctx: AppContext = app.state.context
    return ctx


def parse_as_of(value: str | None) -> dt.date | None:
    """An optional YYYY-MM-DD date from a query or form field; 400 when malformed."""
    if value is None or value == "":
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Problem(400, "invalid-as-of", "as_of must be a date in the form YYYY-MM-DD") from None
