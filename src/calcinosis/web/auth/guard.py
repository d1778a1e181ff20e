"""FastAPI dependencies that let only the right people in, and the CSRF checks.

    def page(..., who: Annotated[Principal, Depends(signed_in)])     # pages: else sign-in
    def endpoint(..., who: Annotated[Principal, Depends(api_caller)]) # REST: else 401

Pages take the session cookie only. The REST API takes `Authorization: Bearer <API token>`, or
the session cookie of a signed-in browser, in which case a request that changes anything must
also carry the session's CSRF token in `X-CSRF-Token` (pages put it in a hidden form field).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from calcinosis.web.auth.state import Auth, Principal
from calcinosis.web.context import context_of
from calcinosis.web.problems import Problem

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RENEWED = "session_cookie"
"""request.state key: a renewed session cookie for SessionCookieMiddleware to send."""

BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An API token from `calcinosis users token USERNAME`, sent as "
    "`Authorization: Bearer <token>`. A signed-in browser's session cookie works too "
    "(with its CSRF token in `X-CSRF-Token` on requests that change data).",
)


class SignInRequired(Exception):
    """A page needs a signed-in user; the handler sends the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def auth_of(request: Request) -> Auth:
    auth = context_of(request).auth
    if auth is None:
        raise Problem(
            503,
            "registry-not-configured",
            "the registry is not set up on this server: set CALCINOSIS_DATABASE_URL (or run "
            "`calcinosis registry init`) and restart it",
        )
    return auth


def _from_session(request: Request, auth: Auth) -> Principal | None:
    principal, renewed = auth.session_principal(request.cookies.get(auth.cookie))
    if renewed is not None:
        request.state.session_cookie = auth.set_cookie(auth.cookie, renewed)
    return principal


def current_page_user(request: Request) -> Principal | None:
    """The signed-in user of a page request, or None (for pages that are open to everybody)."""
    return _from_session(request, auth_of(request))


def signed_in(request: Request) -> Principal:
    principal = current_page_user(request)
    if principal is None:
        target = request.url.path if request.method in SAFE_METHODS else "/registry"
        if request.url.query and request.method in SAFE_METHODS:
            target += "?" + request.url.query
        raise SignInRequired(target)
    return principal


def check_form_csrf(request: Request, principal: Principal, given: str | None) -> None:
    """403 unless `given` is the session's CSRF token (from the form's hidden field)."""
    session = principal.session
    if session is None or not auth_of(request).signer.csrf_ok(session.session_id, given):
        raise Problem(
            403,
            "csrf-token-invalid",
            "the form's security token is missing or out of date; reload the page and try again",
        )


def api_caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    auth = auth_of(request)
    if bearer is not None:
        principal = auth.token_principal(bearer.credentials)
        if principal is None:
            raise _unauthorised('error="invalid_token"', "the API token is not valid")
        return principal
    if request.headers.get("authorization"):
        raise _unauthorised('error="invalid_request"', "use Authorization: Bearer <API token>")
    principal = _from_session(request, auth)
    if principal is None:
        raise _unauthorised(None, "sign in, or send Authorization: Bearer <API token>")
    if request.method not in SAFE_METHODS:
        check_form_csrf(request, principal, request.headers.get(CSRF_HEADER))
    return principal


def admin_caller(principal: Annotated[Principal, Depends(api_caller)]) -> Principal:
    """An API caller with the admin role; 403 for everyone else."""
    if principal.user.role != "admin":
        raise Problem(403, "forbidden", "only administrators may do this")
    return principal


def _unauthorised(error: str | None, message: str) -> Problem:
    challenge = 'Bearer realm="calcinosis"' + (f", {error}" if error else "")
    return Problem(401, "unauthorized", message, {"WWW-Authenticate": challenge})


def sign_in_url(next_path: str) -> str:
    return "/sign-in?next=" + quote(next_path, safe="/")


class SessionCookieMiddleware:
    """Sends the renewed session cookie a guard left in the request state (the guards run as
    dependencies, which cannot add headers to a response the endpoint builds itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = scope.get("state", {}).get(_RENEWED)
                if cookie:
                    headers = list(message.get("headers", []))
                    if not any(k.lower() == b"set-cookie" for k, _ in headers):
                        headers.append((b"set-cookie", cookie.encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
