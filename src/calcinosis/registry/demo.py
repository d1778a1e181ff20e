"""Demo data for `calcinosis serve --demo` (`make run`): a registry that works on a fresh machine.

The database (CALCINOSIS_DATABASE_URL, else the default SQLite file) is created or upgraded; the
published seed case is recorded once, marked as demo data by an identifier of our own; and the
demo clinician gets a new random password on every start, which the caller prints once: it is
stored only as its Argon2 hash, so nobody can look it up later.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from calcinosis.registry import migrate
from calcinosis.registry.accounts import Accounts
from calcinosis.registry.database import (
    database_url,
    default_url,
    make_engine,
    make_private,
    private_directory,
    shown,
    sqlite_path,
)
from calcinosis.registry.dberrors import translated
from calcinosis.registry.records import Identifier
from calcinosis.registry.service import Registry
from calcinosis.registry.systems import RegistrySystem

DEMO_USER = "demo.clinician"
DEMO_ACTOR = "demo"
SEED_IDENTIFIER = Identifier(RegistrySystem.DEMO.value, "seed-palanivel-2026")


@dataclass(frozen=True)
class DemoRegistry:
    url: str
    """The database URL to serve (with its password, if any: do not print it; see `where`)."""
    where: str
    username: str
    password: str
    patient_id: str
    seeded: bool
    """True when the seed case was recorded now (False: it was there already)."""


def prepare_demo(url: str | None = None) -> DemoRegistry:
    from calcinosis import demo as demo_data

    parsed = database_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        private_directory(path)
    engine = make_engine(parsed)
    try:
        with translated(shown(parsed)):
            migrate.upgrade(engine)
        if path is not None:
            make_private(path)
        registry = Registry(engine)
        seeded = registry.find_patient(SEED_IDENTIFIER, actor=DEMO_ACTOR)
        if seeded is None:
            bundle = demo_data.seed_bundle()
            patient = next(
                e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
            )
            patient["identifier"] = [
                *patient.get("identifier", []),
                {"system": SEED_IDENTIFIER.system, "value": SEED_IDENTIFIER.value},
            ]
            done = registry.record_bundle(bundle, actor=DEMO_ACTOR, as_of=demo_data.SEED_AS_OF)
            patient_id, created = done.patient.id, True
        else:
            patient_id, created = seeded.id, False
        password = secrets.token_urlsafe(15)
        accounts = Accounts(registry)
        if accounts.user(DEMO_USER) is None:
            accounts.add_user(DEMO_USER, password, role="clinician", actor=DEMO_ACTOR)
        else:
            accounts.set_password(DEMO_USER, password, actor=DEMO_ACTOR)
    finally:
        engine.dispose()
    return DemoRegistry(
        url=parsed.render_as_string(hide_password=False),
        where=shown(parsed),
        username=DEMO_USER,
        password=password,
        patient_id=patient_id,
        seeded=created,
    )


def served_database(configured: str, *, demo: bool) -> tuple[str, DemoRegistry | None]:
    """The registry `calcinosis serve` opens: with --demo the one prepare_demo sets up;
    otherwise CALCINOSIS_DATABASE_URL, else the default SQLite file if it exists; "" for none
    (the registry's pages then say how to set one up)."""
    if demo:
        prepared = prepare_demo(configured or None)
        return prepared.url, prepared
    if configured:
        return configured, None
    path = sqlite_path(database_url(default_url()))
    return (default_url() if path is not None and path.exists() else ""), None
