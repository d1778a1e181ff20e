"""Server settings: command-line options win over `CALCINOSIS_*` environment variables.

Every value is checked once, here, so a typo in a deployment fails at start-up with a message
naming the variable instead of surfacing later as a strange request error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from calcinosis.fhir.jsonio import DEFAULT_MAX_BYTES

ENV_PREFIX = "CALCINOSIS_"


class SettingsError(ValueError):
    """A setting is unusable; the message names it and says why."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    """Base URL clients use to reach us; CDS Hooks JWTs must name `<public_url>/cds-services/..`
    as their audience and card links point here. Default: http://<host>:<port>."""
    cds_clients: Path | None = None
    insecure_dev: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    knowledge_dir: Path | None = None
    cors_origins: tuple[str, ...] = ("*",)
    fhir_timeout_s: float = 5.0
    jwks_cache_ttl_s: float = 300.0
    clock_skew_s: int = 60
    report_capacity: int = 1000
    database_url: str = ""
    """The registry's database (CALCINOSIS_DATABASE_URL); empty: no registry, and the pages and
    endpoints that need it answer 503. `calcinosis serve` fills it in (see serve_cmd.py)."""
    session_secret_file: Path | None = None
    """Key that signs sign-in sessions and CSRF tokens (created 0600 on first use); default
    `session-secret` in the user's data directory, beside the default SQLite registry."""
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    login_failures: int = 5
    """Failed sign-ins per username within 5 minutes before 429; four times as many per
    client address (a clinic's staff often share one address)."""

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def load_settings(
    overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the environment, then `overrides` (CLI options; None means not given)."""
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}

    def pick(name: str) -> object | None:
        if name in given:
            return given[name]
        return env.get(ENV_PREFIX + name.upper())

    values: dict[str, object] = {}
    if (host := pick("host")) is not None:
        values["host"] = str(host)
    for name in (
        "port",
        "max_bytes",
        "report_capacity",
        "clock_skew_s",
        "session_idle_minutes",
        "session_max_hours",
        "login_failures",
    ):
        if (raw := pick(name)) is not None:
            values[name] = _positive_int(name, raw)
    for name in ("fhir_timeout_s", "jwks_cache_ttl_s"):
        if (raw := pick(name)) is not None:
            values[name] = _positive_float(name, raw)
    if (url := pick("public_url")) is not None:
        values["public_url"] = _checked_url(str(url))
    if (url := pick("database_url")) is not None:
        values["database_url"] = str(url)
    for name in ("cds_clients", "knowledge_dir", "session_secret_file"):
        if (path := pick(name)) is not None:
            values[name] = Path(str(path))
    if (flag := pick("insecure_dev")) is not None:
        values["insecure_dev"] = _flag("insecure_dev", flag)
    if (origins := pick("cors_origins")) is not None:
        parts = origins if isinstance(origins, list | tuple) else str(origins).split(",")
        values["cors_origins"] = tuple(str(o).strip() for o in parts if str(o).strip())
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.port > 65535:
        raise SettingsError(f"{ENV_PREFIX}PORT / --port: {settings.port} is not a TCP port")
    _require_tls_off_loopback(settings)
    return settings


def _require_tls_off_loopback(settings: Settings) -> None:
    """CDS Hooks requires TLS: a public URL other machines use must be https (a TLS proxy in
    front of us), unless the operator explicitly runs in insecure development mode."""
    parts = urlsplit(settings.base_url)
    if parts.scheme == "https" or settings.insecure_dev:
        return
    if parts.hostname in _LOOPBACK:
        return
    raise SettingsError(
        f"{ENV_PREFIX}PUBLIC_URL / --public-url: {settings.base_url!r} is plain http on a "
        "non-loopback address; give the https URL of the TLS proxy in front of the service "
        "(or use --insecure-dev for local tinkering)"
    )


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _positive_int(name: str, raw: object) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {raw!r} is not a whole number") from None
    if value < 1:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be at least 1, not {value}")
    return value


def _positive_float(name: str, raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {raw!r} is not a number") from None
    if not value > 0:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: must be above 0, not {value}")
    return value


def _flag(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{ENV_PREFIX}{name.upper()}: {raw!r} is not true/false")


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"{ENV_PREFIX}PUBLIC_URL / --public-url: {url!r} is not an absolute http(s) URL"
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"{ENV_PREFIX}PUBLIC_URL / --public-url: {url!r} has a query")
    return url.rstrip("/")
