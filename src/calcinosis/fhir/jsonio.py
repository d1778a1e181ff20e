"""Read untrusted JSON: size-capped, strict UTF-8, depth-capped, refusals as contract errors.

Every shell that takes a bundle from outside (the CLI, the web service) reads it through here, so
a file, standard input and an HTTP body are refused with the same codes and messages:
`unreadable`, `too-large`, `invalid-json` and, for a top level that is not an object,
`not-a-bundle`. Messages name the problem and never echo the input's content.
"""

from __future__ import annotations

import os
import stat
from typing import IO, Any

import orjson

from calcinosis.errors import (
    InvalidJsonError,
    NotABundleError,
    TooLargeError,
    UnreadableError,
)

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""5 MiB: far above any one patient's bundle, far below what could exhaust memory."""

_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number"}


def read_json_file(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse the JSON file at `path`; the size is checked before the content is read."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise _too_large(max_bytes)
            data = handle.read(max_bytes + 1)
    except IsADirectoryError:
        raise UnreadableError(f"{name}: is a directory, not a file") from None
    except FileNotFoundError:
        raise UnreadableError(f"{name}: no such file") from None
    except PermissionError:
        raise UnreadableError(f"{name}: permission denied") from None
    except OSError as exc:
        raise UnreadableError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    return parse_json_bytes(data, max_bytes)


def read_json_stream(stream: IO[bytes], max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse JSON from a binary stream such as standard input, reading at most max_bytes + 1."""
    try:
        data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise UnreadableError(f"cannot be read ({exc.strerror or exc})") from None
    return parse_json_bytes(data, max_bytes)


def parse_json_bytes(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse `data` as one JSON document in strict UTF-8 (a leading byte order mark is allowed).

    orjson refuses invalid UTF-8, lone surrogates, NaN/Infinity and nesting deeper than 1024.
    """
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJsonError(_describe(exc)) from None


def require_object(value: Any) -> dict[str, Any]:
    """Return `value` if it is a JSON object; anything else cannot be a FHIR Bundle."""
    if isinstance(value, dict):
        return value
    kind = "null" if value is None else _JSON_TYPES.get(type(value), "a boolean")
    raise NotABundleError(f"the top level is {kind}, not a JSON object holding a FHIR Bundle")


def _too_large(max_bytes: int) -> TooLargeError:
    return TooLargeError(f"larger than the limit of {max_bytes} bytes (see --max-bytes)")


def _describe(exc: orjson.JSONDecodeError) -> str:
    reason = exc.msg
    if "empty document" in reason or "input data is empty" in reason:
        return "the input is empty"
    if "UTF-8" in reason:
        return "the input is not valid UTF-8 text"
    if "depth limit" in reason or "recursion" in reason:
        return "JSON nested more than 1024 levels deep"
    return f"not valid JSON: {reason} at line {exc.lineno}, column {exc.colno}"
