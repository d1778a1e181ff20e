"""Who is calling: a signed-in person (session cookie) or a script (API token), checked against
the registry on every request, so a disabled user or a signed-out session is refused at once.

Session cookies are HttpOnly, SameSite=Lax, Path=/, and Secure with the `__Host-` name prefix
when the public URL is https (the browser then refuses to send them over plain http or to
let a sibling domain set them). A session ends when signed out, after `session_idle_minutes`
without a request, or `session_max_hours` after sign-in, whichever comes first.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from calcinosis.registry.accounts import Accounts, UserRecord
from calcinosis.web.auth.ratelimit import FailureLimiter
from calcinosis.web.auth.tokens import SessionToken, Signer
from calcinosis.web.settings import Settings

HASH_SLOTS = 4
"""Password checks at once: each takes 64 MiB for a moment, so a burst of sign-ins from many
addresses queues here instead of exhausting memory."""
REFRESH_AFTER_S = 60
"""A session's last-seen time is renewed (a new cookie) at most this often."""
ADDRESS_FACTOR = 4
SIGN_IN_NONCE_AGE_S = 3600


@dataclass(frozen=True, slots=True)
class Principal:
    user: UserRecord
    session: SessionToken | None
    """The browser session; None for a script with an API token."""

    @property
    def actor(self) -> str:
        """Who acts, in the registry's audit trail."""
        return f"{'web' if self.session else 'api'}:{self.user.username}"


class Auth:
    def __init__(
        self,
        accounts: Accounts,
        signer: Signer,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.signer = signer
        self.clock = clock
        self.secure = settings.base_url.startswith("https://")
        prefix = "__Host-" if self.secure else ""
        self.cookie = f"{prefix}calcinosis-session"
        self.sign_in_cookie = f"{prefix}calcinosis-sign-in"
        self.idle_s = settings.session_idle_minutes * 60
        self.max_age_s = settings.session_max_hours * 3600
        self.per_user = FailureLimiter(settings.login_failures)
        self.per_address = FailureLimiter(settings.login_failures * ADDRESS_FACTOR)
        self.hash_slots = anyio.CapacityLimiter(HASH_SLOTS)

    # ------------------------------------------------------------------ sessions
    def new_session(self, user: UserRecord) -> SessionToken:
        now = int(self.clock())
        return SessionToken(str(uuid.uuid4()), user.id, now, now)

    def session_principal(self, cookie: str | None) -> tuple[Principal | None, str | None]:
        """The principal of a session cookie, and a renewed cookie value when it is due."""
        token = self.signer.read_session(cookie) if cookie else None
        if token is None:
            return None, None
        now = int(self.clock())
        if (
            now - token.issued_at >= self.max_age_s
            or now - token.seen_at >= self.idle_s
            or token.seen_at > now + REFRESH_AFTER_S  # from the future: not ours
        ):
            return None, None
        if self.accounts.is_signed_out(token.session_id):
            return None, None
        user = self.accounts.active_user(token.user_id)
        if user is None:
            return None, None
        renewed = None
        if now - token.seen_at >= REFRESH_AFTER_S:
            token = SessionToken(token.session_id, token.user_id, token.issued_at, now)
            renewed = self.signer.session_cookie(token)
        return Principal(user, token), renewed

    def token_principal(self, token: str) -> Principal | None:
        user = self.accounts.by_token(token)
        return Principal(user, None) if user is not None else None

    # ------------------------------------------------------------------ cookies
    def set_cookie(self, name: str, value: str, *, max_age: int | None = None) -> str:
        """A Set-Cookie header value with our attributes."""
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def session_set_cookie(self, token: SessionToken) -> str:
        # No Max-Age: the browser forgets the session when it closes; the server bounds its
        # age anyway.
        return self.set_cookie(self.cookie, self.signer.session_cookie(token))

    def expired_cookie(self, name: str) -> str:
        return self.set_cookie(name, "", max_age=0)

    def new_sign_in_nonce(self) -> str:
        return secrets.token_urlsafe(24)
