"""Reading untrusted JSON: the codes and messages every shell shares."""

from __future__ import annotations

import builtins
import errno
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcinosis.errors import (
    CalcinosisError,
    InvalidJsonError,
    NotABundleError,
    TooLargeError,
    UnreadableError,
)
from calcinosis.fhir.jsonio import (
    DEFAULT_MAX_BYTES,
    parse_json_bytes,
    read_json_file,
    read_json_stream,
    require_object,
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_default_limit_is_five_mebibytes() -> None:
    assert DEFAULT_MAX_BYTES == 5 * 1024 * 1024


def test_parses_an_object() -> None:
    assert parse_json_bytes(b'{"resourceType": "Bundle", "entry": []}') == {
        "resourceType": "Bundle",
        "entry": [],
    }


def test_a_utf8_byte_order_mark_is_allowed() -> None:
    assert parse_json_bytes(b'\xef\xbb\xbf{"a": "\xc3\xa9"}') == {"a": "é"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the input is empty"),
        (b" \r\n\t", "the input is empty"),
        (b"\xff", "the input is not valid UTF-8 text"),
        (b'{"a": "\xed\xa0\x80"}', "the input is not valid UTF-8 text"),
        (b"[" * 2000 + b"]" * 2000, "JSON nested more than 1024 levels deep"),
        (b"[" * 1025 + b"]" * 1025, "JSON nested more than 1024 levels deep"),
        (b"NaN", "not valid JSON: unexpected character, expected a JSON value at line 1, column 1"),
        (b"{} []", "not valid JSON: unexpected content after document at line 1, column 4"),
        (b'{"a":\n tru}', "not valid JSON: invalid literal, expected 'true' at line 2, column 2"),
    ],
)
def test_invalid_json_messages(data: bytes, message: str) -> None:
    with pytest.raises(InvalidJsonError) as caught:
        parse_json_bytes(data)
    assert caught.value.code == "invalid-json"
    assert caught.value.message == message


def test_nesting_of_1024_is_still_accepted() -> None:
    value = parse_json_bytes(b"[" * 1024 + b"]" * 1024)
    depth = 0
    while value:
        value = value[0]
        depth += 1
    assert depth == 1023


def test_size_limit_is_inclusive() -> None:
    assert parse_json_bytes(b"[1]", max_bytes=3) == [1]
    with pytest.raises(TooLargeError, match=r"^larger than the limit of 2 bytes \(see"):
        parse_json_bytes(b"[1]", max_bytes=2)


def test_read_file(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b'{"resourceType": "Bundle"}')
    assert read_json_file(path) == {"resourceType": "Bundle"}
    assert read_json_file(str(path), max_bytes=26) == {"resourceType": "Bundle"}


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "b.json"
    with pytest.raises(UnreadableError) as caught:
        read_json_file(path)
    assert (caught.value.code, caught.value.message) == ("unreadable", f"{path}: no such file")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableError) as caught:
        read_json_file(tmp_path)
    assert caught.value.message == f"{tmp_path}: is a directory, not a file"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the system will not open for us is refused as `permission denied`.

    File modes cannot provoke this when the suite runs as root, which opens any file, so the
    refusal an unprivileged reader gets from open(2) (EACCES) is raised at the call that opens
    this one file; every other open goes through to the real one.
    """
    path = tmp_path / "secret.json"
    path.write_bytes(b"{}")
    real_open = builtins.open

    def open_but_deny_secret(file: Any, *args: Any, **kwargs: Any) -> Any:
        if file == str(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_but_deny_secret)
    with pytest.raises(UnreadableError) as caught:
        read_json_file(path)
    assert caught.value.message == f"{path}: permission denied"


def test_a_read_error_is_unreadable() -> None:
    """A file that opens but cannot be read, for root too: nothing is mapped at address 0."""
    with pytest.raises(UnreadableError) as caught:
        read_json_file("/proc/self/mem")
    assert caught.value.message.startswith("/proc/self/mem: cannot be read (")


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sparse.json"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB on paper, nothing on disk
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError):
            read_json_file(path, max_bytes=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_stream_reads_at_most_one_byte_past_the_limit() -> None:
    stream = io.BytesIO(b"[" + b"1," * 1000 + b"1]")
    with pytest.raises(TooLargeError):
        read_json_stream(stream, max_bytes=100)
    assert stream.tell() == 101


def test_stream_parses() -> None:
    assert read_json_stream(io.BytesIO(b'{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ([], "an array"),
        ("x", "a string"),
        (1, "a number"),
        (1.5, "a number"),
        (True, "a boolean"),
        (None, "null"),
    ],
)
def test_require_object_refuses_other_values(value: Any, kind: str) -> None:
    with pytest.raises(NotABundleError) as caught:
        require_object(value)
    assert caught.value.code == "not-a-bundle"
    assert caught.value.message == (
        f"the top level is {kind}, not a JSON object holding a FHIR Bundle"
    )


def test_require_object_returns_the_object() -> None:
    bundle = {"resourceType": "Bundle"}
    assert require_object(bundle) is bundle


@given(JSON_VALUES)
def test_round_trips_any_json_value(value: Any) -> None:
    assert parse_json_bytes(orjson.dumps(value)) == value


@given(st.binary(max_size=64))
def test_arbitrary_bytes_parse_or_are_refused_with_a_contract_code(data: bytes) -> None:
    try:
        parse_json_bytes(data, max_bytes=48)
    except CalcinosisError as exc:
        assert exc.code in {"invalid-json", "too-large"}
