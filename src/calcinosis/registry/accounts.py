"""Who may use the registry: local users (clinician or admin), their passwords and API tokens,
and the sign-in events of the audit trail.

    accounts = Accounts(registry)
    accounts.add_user("dr.a", password, role="clinician", actor="cli:root")
    user = accounts.authenticate("dr.a", password)        # None when refused, for any reason
    token = accounts.issue_token("dr.a", actor=...)        # shown once; only its hash is kept

A disabled user is refused by `authenticate`, `by_token` and `active_user` at once, and loses
the API token. Sign-in sessions are signed cookies (calcinosis.web.auth); what makes one end
early is its "sign-out" entry in the audit trail, which is append-only, so a session that was
signed out stays signed out. Nothing here logs or audits a password, a token, or a username
that was typed but does not exist (it may be a password typed in the wrong box).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcinosis.registry import credentials, writes
from calcinosis.registry.dberrors import translated
from calcinosis.registry.errors import DuplicateError, InvalidRecordError, NotFoundError
from calcinosis.registry.models import ROLES, AuditRow, UserRow
from calcinosis.registry.service import Registry
from calcinosis.registry.validate import check_choice

USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,149}")
USERNAME_RULE = (
    "1-150 characters: lower-case letters, digits and . _ @ - (starting with a letter or digit)"
)
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"
SIGN_OUT = "sign-out"
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    username: str
    role: str
    disabled: bool
    has_api_token: bool
    created_at: dt.datetime
    version: int


def user_record(row: UserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        role=row.role,
        disabled=row.disabled,
        has_api_token=row.api_token_hash is not None,
        created_at=row.created_at,
        version=row.version,
    )


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidRecordError(f"the username must be {USERNAME_RULE}")
    return username


def normalised(username: str) -> str:
    """What a person typed, as usernames are stored (they are case-insensitive)."""
    return username.strip().lower()


class Accounts:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with translated(self.registry.where), Session(self.registry.engine) as session:
            yield session

    # ------------------------------------------------------------------ users
    def add_user(self, username: str, password: str, *, role: str, actor: str) -> UserRecord:
        username = check_username(normalised(username))
        check_choice(role, "role", ROLES)
        credentials.check_password(password, username)
        hashed = credentials.hash_password(password)  # slow: outside the write transaction
        with self.registry.transaction(actor) as tx:
            if tx.session.scalar(select(UserRow.id).where(UserRow.username == username)):
                raise DuplicateError(f"a user named {username!r} exists already")
            row = UserRow(
                id=writes.new_id(),
                username=username,
                role=role,
                password_hash=hashed,
                disabled=False,
                api_token_hash=None,
                created_at=tx.now,
                version=1,
            )
            tx.session.add(row)
            tx.session.flush()
            tx.audit("create", "user", row.id)
            return user_record(row)

    def user(self, username: str) -> UserRecord | None:
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == normalised(username)))
            return user_record(row) if row else None

    def users(self) -> tuple[UserRecord, ...]:
        with self._read() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.username))
            return tuple(user_record(r) for r in rows)

    def active_user(self, user_id: str) -> UserRecord | None:
        """The user behind a session, unless disabled (or gone)."""
        with self._read() as session:
            row = session.get(UserRow, user_id)
            return user_record(row) if row is not None and not row.disabled else None

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> UserRecord:
        """Disabling also drops the API token (a re-enabled user asks for a new one)."""
        with self.registry.transaction(actor) as tx:
            row = self._row(tx.session, username)
            row.disabled = disabled
            if disabled:
                row.api_token_hash = None
            row.version += 1
            tx.session.flush()
            tx.audit("disable" if disabled else "enable", "user", row.id)
            return user_record(row)

    def set_password(self, username: str, password: str, *, actor: str) -> UserRecord:
        credentials.check_password(password, normalised(username))
        hashed = credentials.hash_password(password)
        with self.registry.transaction(actor) as tx:
            row = self._row(tx.session, username)
            row.password_hash = hashed
            row.version += 1
            tx.session.flush()
            tx.audit("set-password", "user", row.id)
            return user_record(row)

    def issue_token(self, username: str, *, actor: str) -> str:
        """A new API token for an enabled user, replacing any earlier one; shown once."""
        token = credentials.new_api_token()
        with self.registry.transaction(actor) as tx:
            row = self._row(tx.session, username)
            if row.disabled:
                raise InvalidRecordError(f"user {row.username!r} is disabled; enable them first")
            row.api_token_hash = credentials.token_hash(token)
            row.version += 1
            tx.session.flush()
            tx.audit("issue-token", "user", row.id)
        return token

    def revoke_token(self, username: str, *, actor: str) -> UserRecord:
        with self.registry.transaction(actor) as tx:
            row = self._row(tx.session, username)
            row.api_token_hash = None
            row.version += 1
            tx.session.flush()
            tx.audit("revoke-token", "user", row.id)
            return user_record(row)

    def _row(self, session: Session, username: str) -> UserRow:
        row = session.scalar(
            select(UserRow).where(UserRow.username == normalised(username)).with_for_update()
        )
        if row is None:
            raise NotFoundError(f"no user named {normalised(username)!r}")
        return row

    # ------------------------------------------------------------------ credentials
    def authenticate(self, username: str, password: str) -> UserRecord | None:
        """The enabled user with this password, else None; as slow for a missing user as for a
        wrong password. A hash made with weaker parameters is replaced."""
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.username == normalised(username)))
            found = (row.id, row.password_hash, row.disabled) if row else None
        if found is None:
            credentials.waste_verification(password)
            return None
        user_id, stored, disabled = found
        if not credentials.verify_password(stored, password) or disabled:
            return None
        if credentials.needs_rehash(stored):
            self._rehash(user_id, stored, password)
        return self.active_user(user_id)

    def _rehash(self, user_id: str, stored: str, password: str) -> None:
        hashed = credentials.hash_password(password)
        with self.registry.transaction(f"user:{user_id}") as tx:
            row = tx.session.get(UserRow, user_id)
            if row is not None and row.password_hash == stored:  # not changed meanwhile
                row.password_hash = hashed
                row.version += 1

    def by_token(self, token: str) -> UserRecord | None:
        if not token.startswith(credentials.TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = credentials.token_hash(token)
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.api_token_hash == digest))
            return user_record(row) if row is not None and not row.disabled else None

    # ------------------------------------------------------------------ sign-in events
    def signed_in(self, session_id: str, *, actor: str) -> None:
        with self.registry.transaction(actor) as tx:
            tx.audit(SIGN_IN, "session", session_id)

    def sign_in_failed(self, user_id: str | None) -> None:
        """A refused attempt; the user's id when the name exists, never what was typed."""
        with self.registry.transaction(ANONYMOUS) as tx:
            tx.audit(SIGN_IN_FAILED, "user", user_id or "")

    def signed_out(self, session_id: str, *, actor: str) -> None:
        with self.registry.transaction(actor) as tx:
            tx.audit(SIGN_OUT, "session", session_id)

    def is_signed_out(self, session_id: str) -> bool:
        query = select(AuditRow.id).where(
            AuditRow.entity_type == "session",
            AuditRow.entity_id == session_id,
            AuditRow.action == SIGN_OUT,
        )
        with self._read() as session:
            return session.scalar(query.limit(1)) is not None
