"""Which URLs the service may call out to (a client's JWKS, the EHR's FHIR server).

Only https, or plain http to this machine's loopback interface (local development and tests):
a bearer token or a key set must never travel in clear text over a network.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def outbound_url_problem(url: str) -> str | None:
    """Why `url` may not be called, or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "is not an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a fragment"
    if parts.scheme == "http" and not is_loopback(host):
        return "must use https (plain http is accepted only for the loopback interface)"
    return None


def same_base(url: str, base: str) -> bool:
    """True when `url` lies under `base` (same scheme, host, port and path prefix)."""
    try:
        target, root = urlsplit(url), urlsplit(base)
        same_origin = (target.scheme, target.hostname, target.port) == (
            root.scheme,
            root.hostname,
            root.port,
        )
    except ValueError:
        return False
    prefix = root.path.rstrip("/")
    path = target.path
    return same_origin and (path == prefix or path.startswith(prefix + "/") or not prefix)
