"""Read a browser's POST /assess: content type, size cap, form fields, and a Bundle from an
uploaded file or pasted text, refused with the same codes and messages as the REST API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from calcinosis.errors import TooLargeError
from calcinosis.fhir import jsonio
from calcinosis.web.body import read_capped
from calcinosis.web.problems import Problem

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
FORM_OVERHEAD = 256 * 1024
"""Room above the Bundle size cap for the case form's fields and the multipart framing."""
MAX_FIELDS = 400


@dataclass
class Submission:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    """Uploaded files by field name (only those the user actually chose), content capped."""

    def one(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0].strip()


async def read_submission(request: Request, max_bytes: int) -> Submission:
    """The posted form; 415 for another content type, 413 as soon as the body is too large."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in FORM_TYPES:
        raise Problem(
            415,
            "unsupported-media-type",
            f"content type {media_type or 'none'!r} is not accepted; send the form as "
            "multipart/form-data",
        )
    limit = max_bytes + FORM_OVERHEAD
    try:
        body = await read_capped(request, limit)
    except Problem as problem:
        if problem.status != 413:
            raise
        raise Problem(413, "too-large", too_large_message(max_bytes)) from None
    form = await _replay(request, body).form(
        max_files=2, max_fields=MAX_FIELDS, max_part_size=limit
    )
    out = Submission()
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if value.filename:
                    out.files[name] = await value.read(max_bytes + 1)
            else:
                out.fields.setdefault(name, []).append(value)
    finally:
        await form.close()
    return out


def parse_bundle(data: bytes, max_bytes: int) -> dict[str, Any]:
    """JSON syntax and a top-level object, exactly as the API checks them; raises InputError."""
    if len(data) > max_bytes:
        raise TooLargeError(too_large_message(max_bytes))
    return jsonio.require_object(jsonio.parse_json_bytes(data, max_bytes))


def too_large_message(max_bytes: int) -> str:
    return f"it is larger than the limit of {human_size(max_bytes)}"


def human_size(n: int) -> str:
    for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _replay(request: Request, body: bytes) -> Request:
    """The same request with its (already capped) body, for starlette's form parser."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)
