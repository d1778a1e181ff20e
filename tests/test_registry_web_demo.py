"""`calcinosis serve --demo` (what `make run` does) on a fresh machine: the registry is created,
the seed case recorded once as demo data, and a demo clinician gets a random password printed
once, new at every start; on SQLite and PostgreSQL, and through the real command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import pg
from calcinosis.registry.accounts import Accounts
from calcinosis.registry.demo import DEMO_USER, SEED_IDENTIFIER, prepare_demo, served_database
from calcinosis.registry.service import Registry
from registry_web import cheap_passwords, hidden

CLI = [sys.executable, "-m", "calcinosis.cli.main"]


@pytest.mark.parametrize("kind", pg.KINDS)
def test_demo_data_is_set_up_once_and_the_password_is_new_each_time(
    kind: str, tmp_path: Path
) -> None:
    with cheap_passwords(), pg.fresh_database(kind, tmp_path, initialised=False) as url:
        first = prepare_demo(url)
        second = prepare_demo(url)
        assert (first.seeded, second.seeded) == (True, False)
        assert first.patient_id == second.patient_id
        assert first.password != second.password and len(first.password) >= 20
        with Registry.open(url) as registry:
            accounts = Accounts(registry)
            assert accounts.authenticate(DEMO_USER, first.password) is None
            user = accounts.authenticate(DEMO_USER, second.password)
            assert user is not None and user.role == "clinician"
            found = registry.find_patient(SEED_IDENTIFIER, actor="test")
            assert found is not None and found.id == first.patient_id
            assert len(registry.patients(actor="test")) == 1
            assert len(registry.patient_file(found.id, actor="test").assessments) == 1
        if kind == "sqlite":
            path = Path(url.removeprefix("sqlite:///"))
            assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_serve_uses_the_configured_registry_or_an_existing_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("CALCINOSIS_DATABASE_URL", raising=False)
    assert served_database("", demo=False) == ("", None)
    assert served_database("sqlite:////elsewhere.db", demo=False) == (
        "sqlite:////elsewhere.db",
        None,
    )
    with cheap_passwords():
        url, prepared = served_database("", demo=True)
    assert prepared is not None and url == f"sqlite:///{tmp_path}/calcinosis/registry.sqlite3"
    assert served_database("", demo=False) == (url, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_make_run_on_a_fresh_machine_prints_a_password_that_signs_in(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    env.pop("CALCINOSIS_DATABASE_URL", None)
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(5)]
        assert lines[3].startswith("  Registry sqlite:///") and "/sign-in" in lines[3]
        found = re.fullmatch(
            r"  Demo clinician: username (\S+), password (\S+) \(shown once.*\)\n", lines[4]
        )
        assert found is not None, lines
        username, password = found.groups()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                try:
                    form = client.get("/sign-in")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server never answered"
                    time.sleep(0.1)
            signed = client.post(
                "/sign-in",
                data={
                    "username": username,
                    "password": password,
                    "sign_in_token": hidden(form.text, "sign_in_token"),
                    "next": "/registry",
                },
            )
            assert signed.status_code == 303
            overview = client.get("/registry")
            assert overview.status_code == 200 and "Patients (1)" in overview.text
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0 and "Traceback" not in err
    assert password not in err  # printed once, on the console, never logged
    key = tmp_path / "calcinosis" / "session-secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
