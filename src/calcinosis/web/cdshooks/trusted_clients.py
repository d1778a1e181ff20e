"""The CDS Clients this service trusts, read from the `cds_clients` JSON file at start-up.

    [{"iss": "https://ehr.example.org/", "jwks": {"keys": [...]}},
     {"iss": "https://other.example.org", "jwks_url": "https://other.example.org/jwks.json",
      "jku_allow": ["https://other.example.org/jwks.json"]}]

Each entry names one issuer and where its public keys come from: an inline key set, or a URL
fetched (and cached) when needed. A JWT's `jku` header is honoured only when that URL is on the
issuer's `jku_allow` list. Only ES384 (EC P-384) and RS384 (RSA, 2048 bits or more) signing keys
are accepted; a key set holding a private key is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from calcinosis.errors import StartupError
from calcinosis.web.cdshooks.urls import outbound_url_problem

LOG = logging.getLogger("calcinosis.cdshooks")

ALGORITHMS = ("ES384", "RS384")
_KTY_FOR_ALG = {"ES384": "EC", "RS384": "RSA"}
_MIN_RSA_BITS = 2048
_MAX_JWKS_BYTES = 64 * 1024
# A token naming a kid we do not have triggers at most one re-fetch per this interval, so
# made-up kids cannot turn us into a request amplifier against the client's key server.
_MIN_REFETCH_S = 30.0
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


class UnusableKey(ValueError):
    """A JWK or JWK Set that cannot be used; the message says why."""


@dataclass(frozen=True)
class TrustedClient:
    iss: str
    keys: Mapping[str, jwt.PyJWK] | None
    """Inline key set by kid, or None when the keys come from `jwks_url`."""
    jwks_url: str | None
    jku_allow: frozenset[str]


def load_trusted_clients(path: Path) -> dict[str, TrustedClient]:
    """Parse and check the trusted-clients file; StartupError names the file and the entry."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise StartupError(f"cds_clients file {path}: cannot read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise StartupError(f"cds_clients file {path}: invalid JSON: {exc}") from None
    if not isinstance(data, list):
        raise StartupError(f"cds_clients file {path}: must hold a JSON array of clients")
    clients: dict[str, TrustedClient] = {}
    for index, entry in enumerate(data):
        try:
            client = _client(entry)
        except UnusableKey as exc:
            iss = entry.get("iss") if isinstance(entry, dict) else None
            named = f" (iss {iss!r})" if isinstance(iss, str) else ""
            raise StartupError(f"cds_clients file {path}: entry {index}{named}: {exc}") from None
        if client.iss in clients:
            raise StartupError(
                f"cds_clients file {path}: entry {index}: iss {client.iss!r} is listed twice"
            )
        clients[client.iss] = client
    return clients


def _client(entry: Any) -> TrustedClient:
    if not isinstance(entry, dict):
        raise UnusableKey("must be a JSON object")
    unknown = set(entry) - {"iss", "jwks", "jwks_url", "jku_allow"}
    if unknown:
        raise UnusableKey(f"unknown fields {sorted(unknown)}")
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise UnusableKey("iss must be a non-empty string")
    has_inline, has_url = "jwks" in entry, "jwks_url" in entry
    if has_inline == has_url:
        raise UnusableKey("give exactly one of jwks (an inline JWK Set) or jwks_url")
    keys = parse_key_set(entry["jwks"], strict=True) if has_inline else None
    jwks_url = _url("jwks_url", entry["jwks_url"]) if has_url else None
    allow = entry.get("jku_allow", [])
    if not isinstance(allow, list):
        raise UnusableKey("jku_allow must be a list of URLs")
    return TrustedClient(
        iss=iss,
        keys=keys,
        jwks_url=jwks_url,
        jku_allow=frozenset(_url("jku_allow", url) for url in allow),
    )


def _url(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise UnusableKey(f"{field} must be a URL string")
    problem = outbound_url_problem(value)
    if problem:
        raise UnusableKey(f"{field} {value!r} {problem}")
    return value


def parse_key_set(data: Any, *, strict: bool) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWK Set by kid. `strict` (our own file) refuses any bad key;
    otherwise (a fetched set) unusable keys are skipped, as a set may hold keys for other uses."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise UnusableKey('jwks must be a JWK Set: an object with a "keys" array')
    keys: dict[str, jwt.PyJWK] = {}
    for index, jwk in enumerate(data["keys"]):
        try:
            kid, key = parse_key(jwk)
        except UnusableKey as exc:
            if strict:
                raise UnusableKey(f"jwks.keys[{index}]: {exc}") from None
            LOG.warning("skipping an unusable key in a fetched JWK Set: %s", exc)
            continue
        if kid in keys:
            raise UnusableKey(f"jwks.keys[{index}]: kid {kid!r} appears twice")
        keys[kid] = key
    if strict and not keys:
        raise UnusableKey("jwks holds no keys")
    return keys


def parse_key(jwk: Any) -> tuple[str, jwt.PyJWK]:
    """One public signing key for ES384 or RS384, with its kid."""
    if not isinstance(jwk, dict):
        raise UnusableKey("a JWK must be a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UnusableKey("a JWK needs a kid")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise UnusableKey(f"key {kid!r} holds private key material; list public keys only")
    if jwk.get("use", "sig") != "sig":
        raise UnusableKey(f"key {kid!r} is not a signing key (use {jwk.get('use')!r})")
    kty = jwk.get("kty")
    alg = jwk.get("alg") or {"EC": "ES384", "RSA": "RS384"}.get(str(kty))
    if alg not in ALGORITHMS or _KTY_FOR_ALG[alg] != kty:
        raise UnusableKey(f"key {kid!r}: only ES384 (EC P-384) and RS384 (RSA) keys are accepted")
    if kty == "EC" and jwk.get("crv") != "P-384":
        raise UnusableKey(f"key {kid!r}: ES384 needs the P-384 curve")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise UnusableKey(f"key {kid!r} is not a valid JWK: {exc}") from None
    public = key.key
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < _MIN_RSA_BITS:
        raise UnusableKey(f"key {kid!r}: RSA keys need at least {_MIN_RSA_BITS} bits")
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise UnusableKey(f"key {kid!r} is not a public key")
    return kid, key


class KeySetUnavailable(Exception):
    """A key set URL could not be fetched or read."""


@dataclass
class _Entry:
    keys: dict[str, jwt.PyJWK]
    fetched: float


class KeySetCache:
    """Key sets fetched from URLs, kept for `ttl_s`; re-fetched early only for an unknown kid."""

    def __init__(self, ttl_s: float, timeout_s: float) -> None:
        self._ttl = ttl_s
        self._timeout = timeout_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    async def keys(self, url: str, kid: str) -> Mapping[str, jwt.PyJWK]:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(url)
        if entry is not None:
            age = now - entry.fetched
            if age < self._ttl and (kid in entry.keys or age < _MIN_REFETCH_S):
                return entry.keys
        try:
            keys = await self._fetch(url)
        except KeySetUnavailable:
            if entry is not None and now - entry.fetched < self._ttl:
                return entry.keys
            raise
        with self._lock:
            self._entries[url] = _Entry(keys, time.monotonic())
        return keys

    async def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise KeySetUnavailable(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise KeySetUnavailable("key set too large")
        except httpx.HTTPError as exc:
            raise KeySetUnavailable(type(exc).__name__) from None
        try:
            return parse_key_set(orjson.loads(bytes(body)), strict=False)
        except (orjson.JSONDecodeError, UnusableKey) as exc:
            raise KeySetUnavailable(str(exc)) from None
