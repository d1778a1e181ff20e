"""The clinicians' web UI: server-rendered pages on the same app as the API and CDS Hooks.

`install(app, ctx)` adds the pages and /static; `error_page(...)` is the HTML error page app.py
shows people in a browser. Other web modules render with the same layout through `templates`
(a starlette Jinja2Templates whose base.html has the blocks `title` and `content`) or
`render_page`, which also sets the page security headers.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from calcinosis.web.context import AppContext
from calcinosis.web.ui.error_pages import error_page
from calcinosis.web.ui.routes import build_router
from calcinosis.web.ui.templating import STATIC_PREFIX, render_page, templates

__all__ = ["error_page", "install", "render_page", "templates"]


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add the web pages and the static files to `app`."""
    app.include_router(build_router(ctx))
    app.mount(STATIC_PREFIX, StaticFiles(packages=[("calcinosis.web", "static")]), name="static")
