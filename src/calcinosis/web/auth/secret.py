"""The key that signs sign-in sessions and CSRF tokens: 32 random bytes in a file only its owner
can read, created on first use.

Whoever holds the key can forge a session for any user, so a file that others can read, or that
is too short to be a key, stops the server at start-up instead of being used. Servers that share
one registry must share the file; replacing it signs everybody out.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import platformdirs

from calcinosis.errors import StartupError

FILE_NAME = "session-secret"
KEY_BYTES = 32


def default_path() -> Path:
    return platformdirs.user_data_path("calcinosis") / FILE_NAME


def load_or_create(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StartupError(
                f"the session key {path} can be read by other users; "
                f"run `chmod 600 {path}` (or delete it to make a new one, signing everybody out)"
            )
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a hex key"
        raise StartupError(f"cannot read the session key {path}: {reason}") from None
    if len(key) < KEY_BYTES:
        raise StartupError(f"the session key {path} is shorter than {KEY_BYTES} bytes")
    return key


def _create(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: if another server process creates it at the same moment, keep theirs.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StartupError(f"cannot create the session key {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(KEY_BYTES) + "\n")
