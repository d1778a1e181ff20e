"""Optimistic concurrency over HTTP: an editable record's ETag is its row version, and an edit
must name the version it was based on in If-Match.

    GET   -> ETag: "3"
    PATCH with If-Match: "3"   -> 200, ETag: "4"
    PATCH with If-Match: "2"   -> 412 (someone changed it; the current ETag is in the answer)
    PATCH without If-Match     -> 428 (an edit without a version could overwrite blindly)

`If-Match: *` is refused like a missing header: it would match whatever is there now.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from calcinosis.web.problems import Problem

_TAG = re.compile(r'\s*(?:W/)?"(\d{1,9})"\s*')


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request) -> int:
    """The version named by If-Match, or 428 / 412 as above."""
    header = request.headers.get("if-match")
    if header is None or header.strip() in ("", "*"):
        raise Problem(
            428,
            "precondition-required",
            'send If-Match with the ETag you read (e.g. If-Match: "3"), so that a change made '
            "meanwhile is not overwritten",
        )
    tags = header.split(",")
    if len(tags) != 1 or (match := _TAG.fullmatch(tags[0])) is None or tags[0].strip()[:2] == "W/":
        # Weak tags never match for If-Match (RFC 9110 13.1.1); several tags name no version.
        raise Problem(412, "conflict", "If-Match must be the one strong ETag of the record")
    return int(match.group(1))
