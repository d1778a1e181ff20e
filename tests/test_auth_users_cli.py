"""`calcinosis users add|disable|enable|password|token|list` through the real entry point, on
SQLite and PostgreSQL: passwords asked twice or read from stdin, never echoed or stored in
clear; tokens printed once; disabling locks the user out of sign-in and the API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import pg
from calcinosis.cli.main import main
from calcinosis.registry import credentials, database
from calcinosis.registry.accounts import Accounts
from calcinosis.registry.models import AuditRow, UserRow
from calcinosis.registry.service import Registry
from registry_web import cheap_passwords

PASSWORD = "a long enough passphrase"


def users(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    with CliRunner().isolation(input=stdin) as (out, err, _):
        code = main(["users", *args])
        sys.stdout.flush()
        sys.stderr.flush()
        run = (code, out.getvalue().decode(), err.getvalue().decode())
    assert "Traceback" not in run[1] + run[2]
    return run


@pytest.fixture(params=pg.KINDS)
def url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    with cheap_passwords(), pg.fresh_database(str(request.param), tmp_path) as made:
        monkeypatch.setenv(database.ENV_VAR, made)
        yield made


def stored(url: str, username: str) -> UserRow:
    with Registry.open(url) as registry, Session(registry.engine) as session:
        row = session.scalar(select(UserRow).where(UserRow.username == username))
        assert row is not None
        session.expunge(row)
        return row


def test_add_asks_twice_and_stores_only_an_argon2_hash(url: str) -> None:
    code, out, err = users("add", "Dr.Rao", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert (code, out.splitlines()[-1]) == (0, "added user dr.rao (clinician)")
    assert PASSWORD not in out + err
    row = stored(url, "dr.rao")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert (row.role, row.disabled, row.api_token_hash) == ("clinician", False, None)
    mismatch = users("add", "dr.b", stdin=f"{PASSWORD}\nsomething else entirely\n")
    assert mismatch[0] == 1 and "do not match" in mismatch[1] + mismatch[2]
    with Registry.open(url) as registry:
        assert Accounts(registry).user("dr.b") is None


def test_add_reads_stdin_for_scripts_and_refuses_bad_input(url: str) -> None:
    assert users(
        "add", "admin.c", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    ) == (
        0,
        "added user admin.c (admin)\n",
        "",
    )
    again = users("add", "admin.c", "--password-stdin", stdin=PASSWORD + "\n")
    assert again[0] == 1 and "exists already" in again[2]
    short = users("add", "dr.short", "--password-stdin", stdin="short\n")
    assert short[0] == 1 and "12-1024 characters" in short[2] and "short\n" not in short[2]
    bad_name = users("add", "dr rao", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad_name[0] == 1 and "lower-case letters" in bad_name[2]
    assert users("add", "dr.x", "--role", "nurse")[0] == 2


def test_tokens_are_printed_once_and_disable_locks_the_user_out(url: str) -> None:
    users("add", "dr.rao", "--password-stdin", stdin=PASSWORD + "\n")
    code, token, note = users("token", "dr.rao")
    token = token.strip()
    assert code == 0 and token.startswith("cal_") and "shown once" in note
    with Registry.open(url) as registry:
        accounts = Accounts(registry)
        assert accounts.by_token(token) is not None
        assert accounts.authenticate("dr.rao", PASSWORD) is not None
    assert token not in (stored(url, "dr.rao").api_token_hash or "")
    listed = users("list")[1]
    assert "dr.rao" in listed and "enabled" in listed and token not in listed
    assert users("disable", "dr.rao")[1] == (
        "disabled user dr.rao; their sessions and API token no longer work\n"
    )
    with Registry.open(url) as registry:
        accounts = Accounts(registry)
        assert accounts.by_token(token) is None
        assert accounts.authenticate("dr.rao", PASSWORD) is None
    refused = users("token", "dr.rao")
    assert refused[0] == 1 and "is disabled" in refused[2]
    assert users("enable", "dr.rao")[0] == 0
    with Registry.open(url) as registry:
        assert Accounts(registry).by_token(token) is None  # a re-enabled user needs a new token
    assert users("token", "dr.rao", "--revoke")[1] == "API token of dr.rao revoked\n"
    assert users("disable", "nobody")[0] == 1


def test_password_changes_and_every_change_is_audited(url: str) -> None:
    users("add", "dr.rao", "--password-stdin", stdin=PASSWORD + "\n")
    new = "an entirely new passphrase"
    assert users("password", "dr.rao", "--password-stdin", stdin=new + "\n")[0] == 0
    with Registry.open(url) as registry, Session(registry.engine) as session:
        accounts = Accounts(registry)
        assert accounts.authenticate("dr.rao", PASSWORD) is None
        assert accounts.authenticate("dr.rao", new) is not None
        actions = [r.action for r in session.scalars(select(AuditRow).order_by(AuditRow.id))]
        actors = {r.actor for r in session.scalars(select(AuditRow))}
    assert actions == ["create", "set-password"]
    assert all(a.startswith("cli") for a in actors)


def test_a_weak_stored_hash_is_upgraded_at_the_next_sign_in(url: str) -> None:
    users("add", "dr.rao", "--password-stdin", stdin=PASSWORD + "\n")
    weak = stored(url, "dr.rao").password_hash
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    saved, credentials.PASSWORD_HASHER = credentials.PASSWORD_HASHER, stronger
    try:
        with Registry.open(url) as registry:
            assert Accounts(registry).authenticate("dr.rao", PASSWORD) is not None
    finally:
        credentials.PASSWORD_HASHER = saved
    upgraded = stored(url, "dr.rao").password_hash
    assert upgraded != weak and "m=16,t=2,p=1" in upgraded
