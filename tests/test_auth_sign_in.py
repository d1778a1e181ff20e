"""Signing in and out against the real server, on SQLite and PostgreSQL: the cookie's
attributes, where the browser goes next, one message for every refusal, sign-in CSRF, sign-out
that really ends the session, session renewal, failure limits (429 + Retry-After), and audit
entries and logs that hold no password, no token and no typed username."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import pg
from calcinosis.registry.models import AuditRow
from calcinosis.web.auth.tokens import SessionToken
from registry_web import PASSWORD, Clinic, clinic, hidden


@pytest.fixture(scope="module", params=pg.KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with clinic(str(request.param), tmp_path_factory.mktemp("sign-in")) as made:
        yield made


def audit_rows(site: Clinic, after: int = 0) -> list[AuditRow]:
    with Session(site.registry.engine) as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.id > after)))


def last_audit_id(site: Clinic) -> int:
    rows = audit_rows(site)
    return rows[-1].id if rows else 0


def session_cookie_header(response: httpx.Response) -> str:
    found = [
        c for c in response.headers.get_list("set-cookie") if c.startswith("calcinosis-session=")
    ]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def test_the_sign_in_page_is_a_labelled_form_that_stores_nothing(site: Clinic) -> None:
    page = site.client().get("/sign-in")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert (
        'label for="sign-in-username"' in page.text and 'label for="sign-in-password"' in page.text
    )
    assert 'autocomplete="current-password"' in page.text
    nonce = [c for c in page.headers.get_list("set-cookie") if c.startswith("calcinosis-sign-in=")]
    assert nonce and "HttpOnly" in nonce[0] and "SameSite=Lax" in nonce[0]


def test_signing_in_sets_a_safe_session_cookie_and_returns_to_the_page_asked_for(
    site: Clinic,
) -> None:
    client = site.client()
    asked = client.get("/registry/due?as_of=2027-03-01")
    assert asked.status_code == 303
    assert unquote(asked.headers["location"]) == "/sign-in?next=/registry/due?as_of=2027-03-01"
    response = site.sign_in(client, "DR.A ", next_path="/registry/due?as_of=2027-03-01")
    assert response.status_code == 303
    assert response.headers["location"] == "/registry/due?as_of=2027-03-01"
    cookie = session_cookie_header(response)
    attributes = {part.strip() for part in cookie.split(";")[1:]}
    assert attributes == {"Path=/", "HttpOnly", "SameSite=Lax"}  # http: no Secure, no Max-Age
    page = client.get("/registry/due?as_of=2027-03-01")
    assert page.status_code == 200 and "Signed in as <strong>dr.a</strong>" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_sign_in_never_sends_the_browser_off_site(site: Clinic, next_path: str) -> None:
    response = site.sign_in(site.client(), "dr.a", next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/registry"


def test_every_refusal_reads_the_same_and_starts_no_session(site: Clinic) -> None:
    site.accounts.set_disabled("dr.gone", True, actor="test")
    texts = []
    for username, password in (
        ("dr.a", "not the password at all"),
        ("nobody.here", PASSWORD),
        ("dr.gone", PASSWORD),
        ("", ""),
    ):
        response = site.sign_in(site.client(), username, password)
        assert response.status_code == 401
        assert not any(
            c.startswith("calcinosis-session=") for c in response.headers.get_list("set-cookie")
        )
        texts.append(response.text.split('<div class="error-summary"')[1].split("</div>")[0])
    assert len(set(texts)) == 1
    assert "not right, or the account is disabled" in texts[0]


def test_a_sign_in_posted_without_the_forms_token_is_refused(site: Clinic) -> None:
    """A page elsewhere cannot sign the browser in to an account of its choosing."""
    client = site.client()
    data = {"username": "dr.a", "password": PASSWORD, "next": ""}
    assert client.post("/sign-in", data=data).status_code == 403
    client.get("/sign-in")  # the nonce cookie, but a token of another nonce
    other = hidden(site.client().get("/sign-in").text, "sign_in_token")
    refused = client.post("/sign-in", data={**data, "sign_in_token": other})
    assert refused.status_code == 403
    assert not any(
        c.startswith("calcinosis-session=") for c in refused.headers.get_list("set-cookie")
    )


def test_signing_out_ends_the_session_for_good(site: Clinic) -> None:
    client = site.signed_in("dr.a")
    cookie = str(client.cookies.get("calcinosis-session"))
    csrf = site.csrf(client)
    assert client.post("/sign-out", data={}).status_code == 403
    done = client.post("/sign-out", data={"csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/sign-in?signed_out=1"
    assert "Max-Age=0" in session_cookie_header(done)
    assert "You are signed out." in client.get("/sign-in?signed_out=1").text
    replayed = site.bare("GET", "/registry", cookie=cookie)
    assert replayed.status_code == 303  # the old cookie, kept by someone, no longer works
    api = site.bare("GET", "/api/registry/patients", cookie=cookie)
    assert api.status_code == 401


def test_an_active_session_is_renewed_and_an_idle_one_is_not(site: Clinic) -> None:
    user = site.accounts.user("dr.b")
    assert user is not None
    now = int(time.time())
    quiet = SessionToken("55555555-5555-4555-8555-555555555555", user.id, now - 600, now - 120)
    response = site.bare("GET", "/registry", cookie=site.signer.session_cookie(quiet))
    assert response.status_code == 200
    renewed = site.signer.read_session(
        session_cookie_header(response).split(";")[0].split("=", 1)[1]
    )
    assert renewed is not None and renewed.session_id == quiet.session_id
    assert renewed.issued_at == quiet.issued_at and renewed.seen_at >= now
    recent = SessionToken(quiet.session_id, user.id, now - 600, now - 5)
    again = site.bare("GET", "/registry", cookie=site.signer.session_cookie(recent))
    assert not again.headers.get_list("set-cookie")


def test_sign_ins_are_audited_without_passwords_or_typed_usernames(
    site: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = last_audit_id(site)
    user = site.accounts.user("admin.c")
    assert user is not None
    site.sign_in(site.client(), "admin.c", "a wrong password typed")
    site.sign_in(site.client(), "typo.in.name", "another wrong one")
    client = site.signed_in("admin.c")
    client.post("/sign-out", data={"csrf_token": site.csrf(client)})
    rows = [(r.actor, r.action, r.entity_type, r.entity_id) for r in audit_rows(site, before)]
    sign_ins = [r for r in rows if r[1] in ("sign-in", "sign-in-failed", "sign-out")]
    session_id = next(r[3] for r in sign_ins if r[1] == "sign-in")
    assert sign_ins == [
        ("anonymous", "sign-in-failed", "user", user.id),
        ("anonymous", "sign-in-failed", "user", ""),
        ("web:admin.c", "sign-in", "session", session_id),
        ("web:admin.c", "sign-out", "session", session_id),
    ]
    logged = caplog.text + repr(rows)
    for secret in ("a wrong password typed", "another wrong one", "typo.in.name", PASSWORD):
        assert secret not in logged
    assert f"signed in: user {user.id}" in caplog.text


def test_failed_sign_ins_are_limited_per_username_then_per_address(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with clinic("sqlite", tmp_path_factory.mktemp("limits"), login_failures=3) as site:
        for _ in range(3):
            assert site.sign_in(site.client(), "dr.a", "wrong password, again").status_code == 401
        locked = site.sign_in(site.client(), "dr.a")  # even the right password now
        assert locked.status_code == 429
        assert 290 <= int(locked.headers["retry-after"]) <= 300
        assert "Too many failed sign-ins" in locked.text
        assert site.sign_in(site.client(), "dr.b").status_code == 303  # others still get in
        for n in range(9):  # 3 x 4 = 12 per address in all; the names do not matter
            assert site.sign_in(site.client(), f"someone.{n}", "wrong").status_code == 401
        assert site.sign_in(site.client(), "dr.b").status_code == 429
