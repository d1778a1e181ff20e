"""One structured log line per request and an audit record per assessment.

Neither ever carries patient identifiers, names, dates of birth or clinical values: the access
line names the route *template* (never the raw path or query), the audit record names who called,
which service, and the outcome code.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOG = logging.getLogger("calcinosis.access")
AUDIT_LOG = logging.getLogger("calcinosis.audit")
ERROR_LOG = logging.getLogger("calcinosis.web")
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass(frozen=True)
class AuditRecord:
    at: str
    request_id: str
    caller: str
    """The authenticated client (JWT iss) or the surface ("web", "api") — never a person."""
    service: str
    outcome: str
    """"assessed", "cards:<n>", or the refusal's error code."""


_AUDIT_FIELDS = tuple(f.name for f in fields(AuditRecord))


class AuditTrail:
    """Audit records, appended to the audit log and kept (bounded) for the admin page."""

    def __init__(self, keep: int = 10_000) -> None:
        self._records: deque[AuditRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, request: Request, service: str, outcome: str) -> AuditRecord:
        entry = AuditRecord(
            at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            request_id=request_id_of(request),
            caller=getattr(request.state, "caller", "anonymous"),
            service=service,
            outcome=outcome,
        )
        with self._lock:
            self._records.append(entry)
        # The fields in order, as dataclasses.asdict would give them, without its deep copy.
        AUDIT_LOG.info(_json({name: getattr(entry, name) for name in _AUDIT_FIELDS}))
        return entry

    def records(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._records)


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def route_template(scope: Scope) -> str:
    """ "/cds-services/{service_id}", not the path the client sent (it may hold an id).

    The router records the route it chose in the scope; no route means nothing matched.
    """
    return str(getattr(scope.get("route"), "path", "unmatched"))


class AccessLogMiddleware:
    """Give each request an id (ours, not the client's: theirs could carry anything), return it
    in a header and log one line when the response is done.

    An exception no handler took is logged here with its traceback (server side only) and
    answered with `on_crash(scope, request_id)`, so the caller still gets the request id.
    """

    def __init__(self, app: ASGIApp, on_crash: Callable[[Scope, str], Response]) -> None:
        self.app = app
        self.on_crash = on_crash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = request_id = secrets.token_hex(8)
        started = time.perf_counter()
        status = 500
        started_response = logged = False

        def log() -> None:
            nonlocal logged
            logged = True
            line: dict[str, Any] = {
                "request_id": request_id,
                "method": scope.get("method", ""),
                "route": route_template(scope),
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if service := state.get("service_id"):
                line["service"] = service
            ACCESS_LOG.info(_json(line))

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log()  # before the last byte leaves, so the line exists once the client has it
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            ERROR_LOG.exception("unexpected error (request %s)", request_id)
            if started_response:
                raise  # too late to answer; the server closes the connection
            await self.on_crash(scope, request_id)(scope, receive, send_with_id)
        finally:
            if not logged:
                log()


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()
