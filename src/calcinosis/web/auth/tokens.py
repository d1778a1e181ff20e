"""Signed values the browser carries: the session cookie, the CSRF token of a session, and the
sign-in form's token.

    v1.<session id>.<user id>.<issued at>.<last seen>.<HMAC-SHA256>

The session id names the session in the audit trail (sign-in, sign-out); the times (Unix
seconds) bound it: absolute age since sign-in and idle time since the last request. Each use
of the key is separated by its own derived key, so a CSRF token can never pass as a signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

VERSION = "v1"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_COOKIE = re.compile(rf"{VERSION}\.({_UUID})\.({_UUID})\.(\d{{1,12}})\.(\d{{1,12}})\.([\w-]{{43}})")
MAX_COOKIE = 200


@dataclass(frozen=True, slots=True)
class SessionToken:
    session_id: str
    user_id: str
    issued_at: int
    seen_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    def __init__(self, key: bytes) -> None:
        def derive(purpose: bytes) -> bytes:
            return hmac.new(key, b"calcinosis/" + purpose, hashlib.sha256).digest()

        self._session_key = derive(b"session")
        self._csrf_key = derive(b"csrf")
        self._sign_in_key = derive(b"sign-in")

    @staticmethod
    def _mac(key: bytes, message: str) -> str:
        return _b64(hmac.new(key, message.encode("ascii"), hashlib.sha256).digest())

    def session_cookie(self, token: SessionToken) -> str:
        body = f"{VERSION}.{token.session_id}.{token.user_id}.{token.issued_at}.{token.seen_at}"
        return f"{body}.{self._mac(self._session_key, body)}"

    def read_session(self, value: str) -> SessionToken | None:
        """The token if the value is well formed and its signature is ours, else None."""
        if len(value) > MAX_COOKIE:
            return None
        match = _COOKIE.fullmatch(value)
        if match is None:
            return None
        body, signature = value.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._mac(self._session_key, body)):
            return None
        session_id, user_id, issued, seen, _ = match.groups()
        return SessionToken(session_id, user_id, int(issued), int(seen))

    def csrf_token(self, session_id: str) -> str:
        """The synchroniser token of one session: the same for every form of that session,
        useless in any other."""
        return self._mac(self._csrf_key, session_id)

    def csrf_ok(self, session_id: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(
            str(given).encode("utf-8", "replace"), self.csrf_token(session_id).encode("ascii")
        )

    def sign_in_token(self, nonce: str) -> str:
        """The sign-in form's hidden field, bound to the nonce in the sign-in cookie (so a
        forged cross-site sign-in, which cannot read or set our cookie, fails)."""
        return self._mac(self._sign_in_key, nonce)

    def sign_in_ok(self, nonce: str | None, given: str | None) -> bool:
        if not nonce or not given or len(nonce) > MAX_COOKIE:
            return False
        expected = self.sign_in_token(nonce).encode("ascii")
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected)
