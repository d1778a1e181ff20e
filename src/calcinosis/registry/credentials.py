"""Secrets users hold: passwords (Argon2id) and API tokens (random, stored as SHA-256).

Passwords are low-entropy, so they are stored with a slow, memory-hard hash: Argon2id with
argon2-cffi's RFC 9106 low-memory profile (64 MiB, 3 passes). Verification reads the parameters
from the stored hash, so older hashes keep working and are upgraded at the next sign-in.

API tokens are 256 random bits: guessing is hopeless, so a fast hash suffices and lets the
registry find the token's user by an indexed equality lookup. Only the hash is stored; the token
is shown once, when issued.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from calcinosis.registry.errors import InvalidRecordError

PASSWORD_MIN = 12
PASSWORD_MAX = 1024
"""Longer inputs are refused before hashing: Argon2 on megabytes would be a cheap DoS."""
TOKEN_PREFIX = "cal_"
TOKEN_BYTES = 32

PASSWORD_HASHER = PasswordHasher()
"""The hasher for new passwords (a module attribute so tests can swap in a cheaper one)."""


def check_password(password: str, username: str) -> str:
    """A new password's policy (NIST SP 800-63B style: length, not the username); the
    message never quotes it."""
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidRecordError(
            f"the password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long"
        )
    if not password.strip():
        raise InvalidRecordError("the password cannot be only spaces")
    if password.strip().lower() == username.lower():
        raise InvalidRecordError("the password cannot be the username")
    return password


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > PASSWORD_MAX:
        return False
    try:
        return PASSWORD_HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return PASSWORD_HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def waste_verification(password: str) -> None:
    """Spend the time of a real verification when there is no user: the answer's timing must
    not tell an attacker which usernames exist."""
    verify_password(_dummy_hash(PASSWORD_HASHER), password)


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
