"""Clinicians' web UI (being built in this session)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from calcinosis.web.context import AppContext


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the web pages and static files to `app`."""


def error_page(request: Request, status: int, message: str) -> Response:
    return HTMLResponse(f"<p>{status}</p>", status_code=status)
