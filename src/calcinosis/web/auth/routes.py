"""The sign-in page, signing in and signing out.

Signing in checks, in order: the form's token against the sign-in cookie (a site cannot sign a
user in to an account of its choosing), the failure limits per username and per client address
(429 with Retry-After; the password is not checked then), the password. Every outcome is one
message, whatever failed: a stranger learns nothing about which usernames exist or are
disabled. Success starts a new session (a session id set before sign-in is never reused) and
goes back to the page that asked for it, on this site only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import parse_qs

import anyio
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from calcinosis.registry.accounts import normalised
from calcinosis.web.auth.guard import CSRF_FIELD, auth_of, check_form_csrf, signed_in
from calcinosis.web.auth.state import SIGN_IN_NONCE_AGE_S, Auth, Principal
from calcinosis.web.body import read_capped
from calcinosis.web.problems import Problem
from calcinosis.web.ui.templating import render_page

LOG = logging.getLogger("calcinosis.web.auth")
HOME = "/registry"
FORM_MAX = 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
REFUSED = "The username or password is not right, or the account is disabled."


def safe_next(value: str | None) -> str:
    """A path on this site to go to after signing in; anything else goes to the registry."""
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in value)
    ):
        return HOME
    return value


def sign_in_page(
    request: Request,
    auth: Auth,
    *,
    next_path: str,
    status: int = 200,
    error: str = "",
    notice: str = "",
    username: str = "",
    headers: Mapping[str, str] | None = None,
) -> Response:
    nonce = auth.new_sign_in_nonce()
    context = {
        "token": auth.signer.sign_in_token(nonce),
        "next": next_path,
        "error": error,
        "notice": notice,
        "username": username,
    }
    response = render_page(request, "auth/sign_in.html", context, status, private=True)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers.append(
        "set-cookie",
        auth.set_cookie(auth.sign_in_cookie, nonce, max_age=SIGN_IN_NONCE_AGE_S),
    )
    return response


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media_type and request.headers.get("content-length", "0") in ("", "0"):
        return {}  # no form at all: refused by the caller for its missing token
    if media_type != FORM_TYPE:
        raise Problem(415, "unsupported-media-type", f"send the form as {FORM_TYPE}")
    body = await read_capped(request, FORM_MAX)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "invalid-form", "the form could not be read") from None
    return {name: values[0] for name, values in fields.items()}


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/sign-in")
    async def sign_in_form(request: Request, next: str = "", signed_out: str = "") -> Response:
        auth = auth_of(request)
        principal, _ = await anyio.to_thread.run_sync(
            auth.session_principal, request.cookies.get(auth.cookie)
        )
        target = safe_next(next)
        if principal is not None:
            return RedirectResponse(target, status_code=303)
        notice = "You are signed out." if signed_out else ""
        return sign_in_page(request, auth, next_path=target, notice=notice)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        auth = auth_of(request)
        fields = await _form(request)
        target = safe_next(fields.get("next"))
        username = normalised(fields.get("username", ""))[:150]
        password = fields.get("password", "")
        nonce = request.cookies.get(auth.sign_in_cookie)
        if not auth.signer.sign_in_ok(nonce, fields.get("sign_in_token")):
            error = "The sign-in form had expired. Please sign in again."
            return sign_in_page(
                request, auth, next_path=target, status=403, error=error, username=username
            )
        address = request.client.host if request.client else "unknown"
        user_key, address_key = f"user:{username}", f"address:{address}"
        wait = max(
            auth.per_user.retry_after(user_key) or 0,
            auth.per_address.retry_after(address_key) or 0,
        )
        if wait:
            LOG.warning("sign-in refused: too many failures (address %s)", address)
            minutes = -(-wait // 60)
            error = (
                f"Too many failed sign-ins. Wait {minutes} minute{'s' if minutes > 1 else ''} "
                "and try again, or ask an administrator to check your account."
            )
            return sign_in_page(
                request,
                auth,
                next_path=target,
                status=429,
                error=error,
                username=username,
                headers={"Retry-After": str(wait)},
            )
        user = await anyio.to_thread.run_sync(
            auth.accounts.authenticate, username, password, limiter=auth.hash_slots
        )
        if user is None:
            auth.per_user.failed(user_key)
            auth.per_address.failed(address_key)
            await anyio.to_thread.run_sync(_record_failure, auth, username, address)
            return sign_in_page(
                request, auth, next_path=target, status=401, error=REFUSED, username=username
            )
        auth.per_user.clear(user_key)
        session = auth.new_session(user)
        actor = f"web:{user.username}"
        await anyio.to_thread.run_sync(
            lambda: auth.accounts.signed_in(session.session_id, actor=actor)
        )
        LOG.info("signed in: user %s, session %s", user.id, session.session_id)
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        response.headers.append("set-cookie", auth.session_set_cookie(session))
        response.headers.append("set-cookie", auth.expired_cookie(auth.sign_in_cookie))
        return response

    @router.post("/sign-out")
    async def sign_out(
        request: Request, principal: Annotated[Principal, Depends(signed_in)]
    ) -> Response:
        auth = auth_of(request)
        fields = await _form(request)
        check_form_csrf(request, principal, fields.get(CSRF_FIELD))
        assert principal.session is not None
        session_id = principal.session.session_id
        await anyio.to_thread.run_sync(
            lambda: auth.accounts.signed_out(session_id, actor=principal.actor)
        )
        LOG.info("signed out: user %s, session %s", principal.user.id, session_id)
        response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
        response.headers.append("set-cookie", auth.expired_cookie(auth.cookie))
        return response

    return router


def _record_failure(auth: Auth, username: str, address: str) -> None:
    known = auth.accounts.user(username) if username else None
    auth.accounts.sign_in_failed(known.id if known else None)
    LOG.warning("sign-in refused: user %s, address %s", known.id if known else "unknown", address)
