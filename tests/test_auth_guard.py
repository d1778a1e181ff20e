"""Every page and REST endpoint that reads or changes registry data refuses whoever is not signed
in properly: nobody, a disabled user, a forged, tampered or expired session, a request that
changes data without the session's CSRF token, a bad or revoked API token. On SQLite and on
PostgreSQL, against the real server.

The routes are read from the app itself, so a route added later is covered without editing
this file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pg
from calcinosis.web.auth.tokens import SessionToken
from registry_web import Clinic, clinic, filled, protected_routes

UNSAFE = {"POST", "PATCH", "PUT", "DELETE"}
SOME_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module", params=pg.KINDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clinic]:
    with clinic(str(request.param), tmp_path_factory.mktemp("auth-guard")) as made:
        yield made


@pytest.fixture(scope="module")
def routes(site: Clinic) -> list[tuple[str, str]]:
    found = protected_routes()
    assert ("GET", "/registry") in found and ("PATCH", "/api/registry/lesions/{lesion_id}") in found
    documented = site.client().get("/openapi.json").json()["paths"]
    registry_paths = {p for p in documented if p.startswith("/api/registry")}
    assert registry_paths == {p for _, p in found if p.startswith("/api/")}
    return [*found, ("POST", "/sign-out")]


def is_page(path: str) -> bool:
    return not path.startswith("/api/")


def expect_refused(response: httpx.Response, path: str) -> None:
    """A page sends the browser to sign in; the API answers 401 with a Bearer challenge."""
    if is_page(path):
        assert response.status_code == 303, (path, response.status_code)
        assert response.headers["location"].startswith("/sign-in?next=")
        assert "calcinosis-session=v1" not in response.headers.get("set-cookie", "")
    else:
        assert response.status_code == 401, (path, response.status_code, response.text)
        assert response.headers["www-authenticate"].startswith('Bearer realm="calcinosis"')
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["details"]["coding"][0]["code"] == "unauthorized"


def call(
    site: Clinic,
    method: str,
    path: str,
    *,
    cookie: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return site.bare(
        method,
        filled(path, SOME_ID),
        cookie=cookie,
        headers=headers,
        json={} if method in UNSAFE else None,
    )


def cookie_of(client: httpx.Client) -> str:
    value = client.cookies.get("calcinosis-session")
    assert value
    return str(value)


def test_anonymous_callers_are_refused_everywhere(
    site: Clinic, routes: list[tuple[str, str]]
) -> None:
    for method, path in routes:
        expect_refused(call(site, method, path), path)


def test_forged_and_tampered_session_cookies_are_refused_everywhere(
    site: Clinic, routes: list[tuple[str, str]]
) -> None:
    genuine = cookie_of(site.signed_in("dr.a"))
    body, signature = genuine.rsplit(".", 1)
    user_b = site.accounts.user("dr.b")
    assert user_b is not None
    parts = body.split(".")
    as_other_user = ".".join([*parts[:2], user_b.id, *parts[3:]]) + "." + signature
    flipped = body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    other_key = "v1." + ".".join(parts[1:]) + "." + "x" * 43
    forged = [as_other_user, flipped, other_key, "v1.garbage", "", "admin", genuine + "x"]
    for method, path in routes:
        for cookie in forged:
            expect_refused(call(site, method, path, cookie=cookie), path)


def test_expired_sessions_are_refused_everywhere(
    site: Clinic, routes: list[tuple[str, str]]
) -> None:
    user = site.accounts.user("dr.a")
    assert user is not None
    now = int(time.time())
    idle = SessionToken("11111111-1111-4111-8111-111111111111", user.id, now - 3600, now - 31 * 60)
    too_old = SessionToken("22222222-2222-4222-8222-222222222222", user.id, now - 13 * 3600, now)
    future = SessionToken("33333333-3333-4333-8333-333333333333", user.id, now, now + 3600)
    fresh = SessionToken("44444444-4444-4444-8444-444444444444", user.id, now - 60, now - 10)
    signer = site.signer
    assert call(site, "GET", "/registry", cookie=signer.session_cookie(fresh)).status_code == 200
    for method, path in routes:
        for token in (idle, too_old, future):
            expect_refused(call(site, method, path, cookie=signer.session_cookie(token)), path)


def test_a_disabled_user_is_refused_at_once_with_session_and_api_token(
    site: Clinic, routes: list[tuple[str, str]]
) -> None:
    client = site.signed_in("dr.gone")
    token = site.bearer("dr.gone")
    assert client.get("/registry").status_code == 200
    assert call(site, "GET", "/api/registry/patients", headers=token).status_code == 200
    site.accounts.set_disabled("dr.gone", True, actor="test")
    cookie = cookie_of(client)
    for method, path in routes:
        expect_refused(call(site, method, path, cookie=cookie), path)
        if not is_page(path):
            refused = call(site, method, path, headers=token)
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    again = site.sign_in(site.client(), "dr.gone")
    assert again.status_code == 401 and "calcinosis-session" not in again.headers.get(
        "set-cookie", ""
    )


def test_changes_without_the_sessions_csrf_token_are_refused(
    site: Clinic, routes: list[tuple[str, str]]
) -> None:
    client = site.signed_in("dr.a")
    other = site.csrf(site.signed_in("dr.b"))  # a real token, of another session
    cookie = cookie_of(client)
    unsafe = [(m, p) for m, p in routes if m in UNSAFE]
    assert len(unsafe) >= 10
    for method, path in unsafe:
        for token in (None, "", other, "forged"):
            headers = {} if token is None else {"X-CSRF-Token": token}
            target = filled(path, SOME_ID)
            if is_page(path):
                data = {} if token is None else {"csrf_token": token}
                response = site.bare(method, target, cookie=cookie, data=data)
            else:
                response = site.bare(method, target, cookie=cookie, json={}, headers=headers)
            assert response.status_code == 403, (method, path, token, response.status_code)
            if not is_page(path):
                code = response.json()["issue"][0]["details"]["coding"][0]["code"]
                assert code == "csrf-token-invalid"


def test_a_signed_in_browser_may_use_the_api_with_its_csrf_token(site: Clinic) -> None:
    client = site.signed_in("dr.a")
    assert client.get("/api/registry/patients").status_code == 200
    refused = client.post("/api/registry/patients/" + SOME_ID + "/procedures", json={})
    assert refused.status_code == 403
    allowed = client.post(
        "/api/registry/patients/" + SOME_ID + "/procedures",
        json={"performed_on": "2026-01-15", "technique": "laser"},
        headers={"X-CSRF-Token": site.csrf(client)},
    )
    assert allowed.status_code == 404  # past the guard: there is no such patient


def test_api_tokens_work_until_revoked_and_bad_ones_are_refused(site: Clinic) -> None:
    headers = site.bearer("dr.b")
    assert call(site, "GET", "/api/registry/patients", headers=headers).status_code == 200
    for bad in ("Bearer cal_not-a-token", "Bearer x", "Basic ZHIuYjpwYXNzd29yZA==", "cal_x"):
        refused = call(site, "GET", "/api/registry/patients", headers={"Authorization": bad})
        assert refused.status_code == 401, bad
    replaced = site.accounts.issue_token("dr.b", actor="test")
    assert call(site, "GET", "/api/registry/patients", headers=headers).status_code == 401
    new = {"Authorization": f"Bearer {replaced}"}
    assert call(site, "GET", "/api/registry/patients", headers=new).status_code == 200
    site.accounts.revoke_token("dr.b", actor="test")
    assert call(site, "GET", "/api/registry/patients", headers=new).status_code == 401
    site.tokens.pop("dr.b")


def test_open_pages_and_api_stay_open(site: Clinic) -> None:
    seed = Path(__file__).resolve().parents[2] / "shared/dev-vignettes/bundles"
    bundle = (seed / "dev-seed-palanivel-2026.json").read_bytes()
    with site.client() as client:
        assert client.get("/").status_code == 200
        assert client.get("/cds-services").status_code == 200
        assessed = client.post(
            "/api/assess", content=bundle, headers={"Content-Type": "application/json"}
        )
        assert assessed.status_code == 200
        assert client.get("/sign-in").status_code == 200
