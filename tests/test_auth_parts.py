"""The parts of sign-in on their own: the key file, signed cookies and tokens, the failure
limiter's window, cookie attributes behind https, password policy and hashing, API tokens."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from calcinosis.errors import StartupError
from calcinosis.registry import credentials
from calcinosis.registry.errors import InvalidRecordError
from calcinosis.web.auth import secret
from calcinosis.web.auth.ratelimit import FailureLimiter
from calcinosis.web.auth.state import Auth
from calcinosis.web.auth.tokens import SessionToken, Signer
from calcinosis.web.settings import Settings

TOKEN = SessionToken(
    "9b2f6c1e-3a4d-4e5f-8a7b-1c2d3e4f5a6b", "0f1e2d3c-4b5a-4968-8776-655443322110", 1000, 2000
)


def test_the_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "session-secret"
    key = secret.load_or_create(path)
    assert len(key) == secret.KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secret.load_or_create(path) == key


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("ab" * 32, 0o644, "can be read by other users; run `chmod 600"),
        ("ab" * 8, 0o600, "shorter than 32 bytes"),
        ("not hex at all", 0o600, "not a hex key"),
    ],
)
def test_an_unsafe_or_broken_key_file_stops_the_start(
    tmp_path: Path, content: str, mode: int, message: str
) -> None:
    path = tmp_path / "session-secret"
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(StartupError, match=message):
        secret.load_or_create(path)


def test_session_cookies_round_trip_and_any_change_breaks_them() -> None:
    signer = Signer(b"k" * 32)
    value = signer.session_cookie(TOKEN)
    assert signer.read_session(value) == TOKEN
    assert Signer(b"j" * 32).read_session(value) is None
    for i in range(len(value)):
        changed = value[:i] + ("0" if value[i] != "0" else "1") + value[i + 1 :]
        assert signer.read_session(changed) is None, i
    assert signer.read_session(value + "=") is None
    assert signer.read_session("v2" + value[2:]) is None


def test_csrf_and_sign_in_tokens_are_bound_to_their_session_and_purpose() -> None:
    signer = Signer(b"k" * 32)
    token = signer.csrf_token(TOKEN.session_id)
    assert signer.csrf_ok(TOKEN.session_id, token)
    assert not signer.csrf_ok(TOKEN.user_id, token)
    assert not signer.csrf_ok(TOKEN.session_id, None)
    assert not signer.csrf_ok(TOKEN.session_id, token[:-1] + "é")
    assert signer.sign_in_token(TOKEN.session_id) != token  # derived keys keep uses apart
    assert signer.sign_in_ok("nonce", signer.sign_in_token("nonce"))
    assert not signer.sign_in_ok("other", signer.sign_in_token("nonce"))
    assert not signer.sign_in_ok(None, signer.sign_in_token("nonce"))


def test_the_limiter_counts_failures_in_a_sliding_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(3, 300, max_keys=2, clock=lambda: now[0])
    for t in (0, 100, 200):
        now[0] = t
        assert limiter.retry_after("a") is None
        limiter.failed("a")
    now[0] = 250
    assert limiter.retry_after("a") == 50  # until the failure at t=0 leaves the window
    now[0] = 300
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 100
    limiter.clear("a")
    assert limiter.retry_after("a") is None
    for key in ("a", "b", "c"):  # bounded: the least recent key is forgotten
        for _ in range(3):
            limiter.failed(key)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("c") is not None


def test_behind_https_the_cookies_are_secure_host_only_cookies() -> None:
    secure = Auth(None, Signer(b"k" * 32), Settings(public_url="https://clinic.example"))  # type: ignore[arg-type]
    assert secure.cookie == "__Host-calcinosis-session"
    header = secure.session_set_cookie(TOKEN)
    assert header.startswith("__Host-calcinosis-session=v1.")
    assert {p.strip() for p in header.split(";")[1:]} == {
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
    }
    plain = Auth(None, Signer(b"k" * 32), Settings())  # type: ignore[arg-type]
    assert plain.cookie == "calcinosis-session" and "Secure" not in plain.session_set_cookie(TOKEN)


def test_passwords_are_hashed_with_argon2id_at_the_rfc_9106_low_memory_profile() -> None:
    assert credentials.PASSWORD_HASHER.type is Type.ID
    stored = credentials.hash_password("correct horse battery staple")
    parameters = extract_parameters(stored)
    assert (parameters.type, parameters.memory_cost, parameters.time_cost) == (Type.ID, 65536, 3)
    assert credentials.verify_password(stored, "correct horse battery staple")
    assert not credentials.verify_password(stored, "correct horse battery stapl")
    assert not credentials.verify_password("not a hash", "x")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x" * 12)
    assert credentials.needs_rehash(weak) and not credentials.needs_rehash(stored)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "12-1024 characters"),
        ("x" * 1025, "12-1024 characters"),
        (" " * 12, "only spaces"),
        ("Dr.Someone.42", "cannot be the username"),
    ],
)
def test_weak_passwords_are_refused_without_being_quoted(password: str, message: str) -> None:
    with pytest.raises(InvalidRecordError, match=message) as refused:
        credentials.check_password(password, "dr.someone.42")
    assert password not in str(refused.value)


def test_api_tokens_are_random_and_only_their_hash_is_kept() -> None:
    tokens = {credentials.new_api_token() for _ in range(100)}
    assert len(tokens) == 100
    token = tokens.pop()
    assert token.startswith("cal_") and len(token) >= 40
    digest = credentials.token_hash(token)
    assert len(digest) == 64 and token not in digest
