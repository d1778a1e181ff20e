"""Helpers for the registry's web tests: a real server on a fresh registry database (SQLite or
PostgreSQL, from pg.py) with users, and signing in the way a browser does.

    with clinic("sqlite", folder) as c:
        browser = c.signed_in("dr.a")            # an httpx.Client holding a session cookie
        browser.get("/registry")
        httpx.get(c.base_url + "/api/registry/patients", headers=c.bearer("dr.a"))

Passwords are hashed with cheap Argon2 parameters here (`cheap_passwords`), so signing in costs
milliseconds; verification reads the parameters from the hash, exactly as in production.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRoute

import pg
from calcinosis.registry import credentials
from calcinosis.registry.accounts import Accounts
from calcinosis.registry.service import Registry
from calcinosis.web.app import create_app
from calcinosis.web.auth import secret
from calcinosis.web.auth.tokens import Signer
from calcinosis.web.context import context_of_app
from calcinosis.web.registry import routers as registry_routers
from calcinosis.web.settings import Settings
from webserver import serving

REPOSITORY = Path(__file__).resolve().parent.parent
SEED = REPOSITORY.parent / "shared" / "dev-vignettes" / "bundles" / "dev-seed-palanivel-2026.json"
PASSWORD = "correct horse battery staple"
USERS = {"dr.a": "clinician", "dr.b": "clinician", "admin.c": "admin", "dr.gone": "clinician"}
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_FIELD = re.compile(r'name="(csrf_token|sign_in_token)" value="([^"]+)"')


@contextlib.contextmanager
def cheap_passwords() -> Iterator[None]:
    saved = credentials.PASSWORD_HASHER
    credentials.PASSWORD_HASHER = CHEAP
    try:
        yield
    finally:
        credentials.PASSWORD_HASHER = saved


def hidden(html: str, name: str) -> str:
    """The value of a hidden form field (csrf_token, sign_in_token) in a page."""
    for found, value in _FIELD.findall(html):
        if found == name:
            return value
    raise AssertionError(f"no {name} field in the page")


@dataclass
class Clinic:
    base_url: str
    database_url: str
    key_file: Path
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)
    opened: list[httpx.Client] = field(default_factory=list)

    @property
    def registry(self) -> Registry:
        registry = context_of_app(self.app).registry
        assert registry is not None
        return registry

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.registry)

    @property
    def signer(self) -> Signer:
        return Signer(secret.load_or_create(self.key_file))

    def client(self, **options: Any) -> httpx.Client:
        """A client closed with the clinic (an unclosed one fails the test that drops it)."""
        made = httpx.Client(base_url=self.base_url, timeout=60, **options)
        self.opened.append(made)
        return made

    def bare(
        self, method: str, path: str, *, cookie: str | None = None, **options: Any
    ) -> httpx.Response:
        """One request with exactly the session cookie given (or none), nothing remembered."""
        headers = dict(options.pop("headers", None) or {})
        if cookie is not None:
            headers["Cookie"] = f"calcinosis-session={cookie}"
        if not self.opened:
            self.client()
        shared = self.opened[0]
        try:
            return shared.request(method, path, headers=headers, **options)
        finally:
            shared.cookies.clear()

    def sign_in(
        self, client: httpx.Client, username: str, password: str = PASSWORD, next_path: str = ""
    ) -> httpx.Response:
        form_page = client.get("/sign-in", params={"next": next_path} if next_path else None)
        data = {
            "username": username,
            "password": password,
            "sign_in_token": hidden(form_page.text, "sign_in_token"),
            "next": next_path,
        }
        return client.post("/sign-in", data=data)

    def signed_in(self, username: str) -> httpx.Client:
        client = self.client()
        response = self.sign_in(client, username)
        assert response.status_code == 303, response.text
        return client

    def csrf(self, client: httpx.Client) -> str:
        return hidden(client.get("/registry").text, "csrf_token")

    def bearer(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = self.accounts.issue_token(username, actor="test")
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    def api(self, username: str = "dr.a") -> httpx.Client:
        return self.client(headers=self.bearer(username))

    def close(self) -> None:
        for client in self.opened:
            client.close()
        self.registry.close()


@contextlib.contextmanager
def clinic(kind: str, folder: Path, **settings: Any) -> Iterator[Clinic]:
    """A server on a fresh registry of `kind` holding USERS (all with PASSWORD)."""
    with cheap_passwords(), pg.fresh_database(kind, folder) as url:
        with Registry.open(url) as registry:
            accounts = Accounts(registry)
            for username, role in USERS.items():
                accounts.add_user(username, PASSWORD, role=role, actor="test")
        key_file = folder / f"session-key-{kind}"
        made: list[FastAPI] = []

        def build(base_url: str) -> FastAPI:
            app = create_app(
                Settings(
                    public_url=base_url,
                    database_url=url,
                    session_secret_file=key_file,
                    **settings,
                )
            )
            made.append(app)
            return app

        with serving(build) as base_url:
            found = Clinic(base_url, url, key_file, made[0])
            try:
                yield found
            finally:
                found.close()


def protected_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route that reads or changes registry data: those of
    the routers web/registry installs."""
    out = []
    for router in registry_routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            out.extend((method, route.path) for method in sorted(route.methods))
    return sorted(out)


def filled(path: str, record_id: str) -> str:
    """A path template with every {parameter} replaced by `record_id`."""
    return re.sub(r"\{[^}]+\}", record_id, path)
