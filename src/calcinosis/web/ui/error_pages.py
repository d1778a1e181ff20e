"""Friendly HTML error pages for people in a browser; machines get OperationOutcomes (app.py)."""

from __future__ import annotations

import html
import logging

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from calcinosis.web.observability import request_id_of
from calcinosis.web.ui.templating import PAGE_HEADERS, render_page

LOG = logging.getLogger("calcinosis.web.ui")

_TITLES = {
    400: (
        "The request could not be read",
        "Something in the request was not in the expected form.",
    ),
    404: (
        "Page not found",
        "There is nothing at this address. Reports are kept in memory only, "
        "so a report link stops working when the server restarts or after many newer reports.",
    ),
    405: ("Not allowed here", "This address does not accept that kind of request."),
    413: ("Too large", "What was sent is larger than this server accepts."),
    415: ("Unsupported content type", "This address does not accept data in that format."),
    422: ("Cannot be processed", "The data was read but cannot be assessed."),
    500: (
        "Something went wrong",
        "The server could not complete the request. Nothing was stored. "
        "Please try again; if it happens again, tell the operator the request id below.",
    ),
}


def error_page(request: Request, status: int, message: str) -> Response:
    """The error page in the site layout; a bare page if the layout itself cannot be rendered."""
    title, explanation = _TITLES.get(
        status, ("Request failed", "The request could not be completed.")
    )
    context = {
        "title": title,
        "explanation": explanation,
        "message": message,
        "status": status,
        "request_id": request_id_of(request),
    }
    try:
        return render_page(request, "error.html", context, status_code=status)
    except Exception:
        LOG.exception("error page could not be rendered (request %s)", request_id_of(request))
        body = f"<!doctype html><html lang=en><title>{status}</title><h1>{html.escape(title)}</h1>"
        return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
