"""What the registry's REST endpoints share: JSON responses that are never cached, strictly
validated JSON bodies, page cursors, and running registry calls off the event loop."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from calcinosis.web.body import read_capped, require_json_content_type
from calcinosis.web.problems import FHIR_JSON, Problem
from calcinosis.web.registry.errors import as_problems
from calcinosis.web.registry.etag import etag

BODY_MAX = 64 * 1024
"""Record bodies are small; Bundles go through the configured max_bytes instead."""
NO_STORE = {"Cache-Control": "no-store"}

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def json_response(
    body: Any,
    status: int = 200,
    *,
    version: int | None = None,
    location: str | None = None,
    media_type: str = "application/json",
) -> Response:
    headers = dict(NO_STORE)
    if version is not None:
        headers["ETag"] = etag(version)
    if location is not None:
        headers["Location"] = location
    return Response(orjson.dumps(body), status, headers=headers, media_type=media_type)


def fhir_response(body: Any, status: int = 200, *, location: str | None = None) -> Response:
    return json_response(body, status, location=location, media_type=FHIR_JSON)


async def json_body(request: Request, model: type[M]) -> M:
    """The body as `model`: 415 for another content type, 413 when too large, 400 for JSON
    that does not parse, 422 naming the fields that are wrong (never their values)."""
    require_json_content_type(request)
    data = await read_capped(request, BODY_MAX)
    try:
        return model.model_validate_json(data or b"{}", strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise Problem(400, "invalid-json", "the body is not valid JSON") from None
        fields = sorted(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors
        )
        raise Problem(422, "invalid-record", "; ".join(fields)) from None


async def run(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A registry call in a worker thread (it blocks on the database), its errors as Problems."""
    with as_problems():
        return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


def encode_cursor(created_at: dt.datetime, patient_id: str) -> str:
    raw = f"{created_at.isoformat()}|{patient_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, patient_id = raw.split("|")
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None or len(patient_id) != 36:
            raise ValueError(cursor)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Problem(400, "invalid-cursor", "cursor is not one this API gave out") from None
    return when, patient_id
