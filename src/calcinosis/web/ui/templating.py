"""The one Jinja2 environment of the web UI (autoescaped, templates shipped in the package) and
the headers every page gets.

Other web modules render with the same layout through `templates` (a starlette Jinja2Templates)
or `render_page`, which adds the page headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

import calcinosis

STATIC_PREFIX = "/static"

# Pages load only their own CSS and JS. No referrer: a report URL is the key to the report,
# and must not travel to doi.org when a reference is opened.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
PRIVATE_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
"""For pages that show patient data: no copy in shared or browser caches."""

NAV = (
    ("/", "Home"),
    ("/registry", "Registry"),
    ("/docs", "API docs"),
    ("/cds-services", "CDS services"),
    ("/feedback", "Feedback"),
)

environment = jinja2.Environment(
    loader=jinja2.PackageLoader("calcinosis.web", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(
    app_version=calcinosis.__version__,
    nav=NAV,
    static_url=lambda path: f"{STATIC_PREFIX}/{path}?v={calcinosis.__version__}",
)
templates = Jinja2Templates(env=environment)


def render_page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    *,
    private: bool = False,
) -> HTMLResponse:
    """A page from the shared layout, with the page headers (and no-store when `private`)."""
    headers = PRIVATE_HEADERS if private else PAGE_HEADERS
    return templates.TemplateResponse(
        request, name, dict(context or {}), status_code=status_code, headers=headers
    )
