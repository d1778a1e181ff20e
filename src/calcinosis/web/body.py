"""Read a request body as one FHIR JSON object: content type checked first, size capped while
streaming (a client announcing or sending too much is stopped early, not buffered)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from calcinosis.errors import InputError
from calcinosis.fhir import jsonio
from calcinosis.web.problems import FHIR_JSON, Problem

JSON_TYPES = ("application/json", FHIR_JSON)


def require_json_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_TYPES:
        shown = media_type or "none"
        raise Problem(
            415,
            "unsupported-media-type",
            f"content type {shown!r} is not accepted; send {' or '.join(JSON_TYPES)}",
        )


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The body, or 413 as soon as it is known to exceed `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """Content type, size, JSON syntax and a top-level object, each refused with its own code."""
    require_json_content_type(request)
    data = await read_capped(request, max_bytes)
    try:
        return jsonio.require_object(jsonio.parse_json_bytes(data, max_bytes))
    except InputError as exc:
        raise Problem.from_error(exc) from None


def _too_large(max_bytes: int) -> Problem:
    return Problem(413, "too-large", f"the body is larger than the limit of {max_bytes} bytes")
