"""Sign-in for the registry: local users, session cookies, CSRF tokens, failure limits and API
tokens. Pages and endpoints that read or change registry data depend on the guards in guard.py;
the assessment pages and API, which store nothing, stay open.

    state.py      Auth: who is calling (session cookie or API token), checked on every request
    tokens.py     the signed session cookie, CSRF and sign-in form tokens
    secret.py     the signing key file (0600, created on first use)
    ratelimit.py  failed sign-ins per username and per client address
    guard.py      FastAPI dependencies: signed_in (pages), api_caller (REST), CSRF checks
    routes.py     GET/POST /sign-in, POST /sign-out

Users, passwords and the sign-in audit entries live in the registry (registry/accounts.py);
`calcinosis users add|disable|token` manages them.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from calcinosis.registry.accounts import Accounts
from calcinosis.web.auth import secret
from calcinosis.web.auth.guard import SessionCookieMiddleware, SignInRequired, sign_in_url
from calcinosis.web.auth.routes import build_router
from calcinosis.web.auth.state import Auth
from calcinosis.web.auth.tokens import Signer
from calcinosis.web.context import AppContext


def install(app: FastAPI, ctx: AppContext) -> None:
    """Add sign-in and sign-out; with a registry, load the signing key and enable the guards."""
    if ctx.registry is not None:
        key = secret.load_or_create(ctx.settings.session_secret_file or secret.default_path())
        ctx.auth = Auth(Accounts(ctx.registry), Signer(key), ctx.settings)
    app.include_router(build_router())
    app.add_middleware(SessionCookieMiddleware)
    app.add_exception_handler(SignInRequired, _to_sign_in)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(
        sign_in_url(exc.next_path), status_code=303, headers={"Cache-Control": "no-store"}
    )
