"""Authenticate a CDS Client: `Authorization: Bearer <JWT>` signed by a trusted client's key.

Checked, in this order: a bearer token is present; the header names ES384 or RS384 (never
`none`, never a symmetric algorithm) and a kid; the issuer is trusted; a `jku` is on that
issuer's allow-list; the kid is in its key set; the signature; `aud` is exactly the endpoint
being called; `exp`, `iat` (not in the future beyond the allowed clock skew) and a bounded
lifetime; and last a `jti` never seen before from that issuer (so a forged token cannot fill
the replay list). Any failure is a 401 whose body says nothing about which check failed; the
reason goes to the server log only.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import jwt
from starlette.requests import Request

from calcinosis.web.cdshooks.trusted_clients import (
    ALGORITHMS,
    KeySetCache,
    KeySetUnavailable,
    TrustedClient,
)
from calcinosis.web.problems import Problem

LOG = logging.getLogger("calcinosis.cdshooks")

# The spec asks for short-lived tokens (minutes); a longer one is refused so the replay list
# only ever has to remember an hour of jtis.
MAX_LIFETIME_S = 3600
MAX_TOKEN_BYTES = 16 * 1024
MAX_JTI_CHARS = 256
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]


class Refused(Exception):
    """Authentication failed; the message is for the server log only."""


def unauthorized() -> Problem:
    return Problem(
        401,
        "unauthorized",
        "the request must carry a valid bearer JWT from a trusted CDS Client",
        {"WWW-Authenticate": "Bearer"},
    )


class ReplayGuard:
    """(iss, jti) pairs seen, each kept until its token expires (plus the clock skew)."""

    def __init__(self, skew_s: float, capacity: int = 200_000) -> None:
        self._skew = skew_s
        self._capacity = capacity
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, iss: str, jti: str, exp: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) >= self._capacity:
                self._seen = {k: v for k, v in self._seen.items() if v + self._skew >= now}
                if len(self._seen) >= self._capacity:
                    # Full of live tokens: refusing is safe, forgetting one would allow a replay.
                    return False
            key = (iss, jti)
            if key in self._seen:
                return False
            self._seen[key] = exp
            return True


class Authenticator:
    def __init__(
        self,
        clients: Mapping[str, TrustedClient],
        key_sets: KeySetCache,
        base_url: str,
        skew_s: float,
    ) -> None:
        self._clients = clients
        self._key_sets = key_sets
        self._base_url = base_url
        self._skew = skew_s
        self._replays = ReplayGuard(skew_s)

    async def authenticate(self, request: Request) -> str:
        """The caller's `iss`; raises the generic 401 Problem on any failure."""
        try:
            return await self._check(request)
        except Refused as exc:
            LOG.warning("CDS Client refused on %s: %s", request.url.path, exc)
            raise unauthorized() from None

    async def _check(self, request: Request) -> str:
        token = _bearer_token(request.headers.get("authorization", ""))
        # One unverified read for kid, alg and iss (to pick the key); the claims are only
        # trusted after the verified decode below.
        header, unverified = _unverified(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Refused(f"algorithm {alg!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise Refused("no kid in the JWT header")
        if "typ" in header and str(header["typ"]).upper() != "JWT":
            raise Refused(f"typ {header['typ']!r} is not JWT")
        iss = unverified.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise Refused(f"issuer {iss!r} is not a trusted CDS Client")
        key = await self._key(client, header, kid)
        if key.algorithm_name != alg:
            raise Refused(f"kid {kid!r} is a {key.algorithm_name} key, the JWT says {alg}")
        audience = f"{self._base_url}{request.url.path}"
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=client.iss,
                leeway=self._skew,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise Refused(f"{type(exc).__name__}: {exc}") from None
        self._check_times(claims)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise Refused("jti must be a non-empty string")
        if not self._replays.first_use(client.iss, jti, float(claims["exp"])):
            raise Refused("jti already used (replay)")
        return client.iss

    async def _key(self, client: TrustedClient, header: Mapping[str, Any], kid: str) -> jwt.PyJWK:
        jku = header.get("jku")
        try:
            if jku is not None:
                if not isinstance(jku, str) or jku not in client.jku_allow:
                    raise Refused(f"jku {jku!r} is not on the allow-list of {client.iss!r}")
                keys = await self._key_sets.keys(jku, kid)
            elif client.keys is not None:
                keys = client.keys
            else:
                assert client.jwks_url is not None
                keys = await self._key_sets.keys(client.jwks_url, kid)
        except KeySetUnavailable as exc:
            raise Refused(f"key set of {client.iss!r} unavailable: {exc}") from None
        key = keys.get(kid)
        if key is None:
            raise Refused(f"kid {kid!r} is not in the key set of {client.iss!r}")
        return key

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = time.time()
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise Refused("exp and iat must be numbers")
        if iat > now + self._skew:
            raise Refused("iat is in the future")
        if exp > now + MAX_LIFETIME_S + self._skew or exp - iat > MAX_LIFETIME_S:
            raise Refused(f"token lifetime above {MAX_LIFETIME_S} s")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims as sent, nothing checked: only to choose the key to verify with.

    Read here rather than by a second PyJWT decode, which would check the encoding character by
    character twice per call. This reading accepts at least every token PyJWT's does (a junk
    character is skipped by base64 here, refused by PyJWT), and the verified decode reads the
    token again, strictly, so nothing read here is trusted or can let a token through.
    """
    try:
        header_part, payload_part, _signature = token.split(".")
        header = json.loads(_base64url(header_part))
        payload = json.loads(_base64url(payload_part))
    except (ValueError, RecursionError) as exc:
        raise Refused(f"malformed JWT ({type(exc).__name__})") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Refused("malformed JWT (header and claims must be JSON objects)")
    return header, payload


def _base64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _bearer_token(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Refused("no bearer token")
    if len(token) > MAX_TOKEN_BYTES:
        raise Refused("token too large")
    return token
