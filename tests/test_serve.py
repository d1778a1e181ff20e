"""`calcinosis serve` as an operator runs it: settings from options and environment, a clear
start-up line, a clean stop on Ctrl-C, and one-line refusals for bad settings or a busy port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from calcinosis.web.settings import Settings, SettingsError, load_settings

CLI = [sys.executable, "-m", "calcinosis.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_options_win_over_environment_and_defaults_fill_the_rest() -> None:
    env = {"CALCINOSIS_PORT": "9001", "CALCINOSIS_HOST": "localhost", "CALCINOSIS_MAX_BYTES": "10"}
    settings = load_settings({"port": 9002, "host": None}, environ=env)
    assert (settings.host, settings.port, settings.max_bytes) == ("localhost", 9002, 10)
    assert settings.base_url == "http://localhost:9002"
    assert load_settings({}, environ={}) == Settings()


def test_public_url_becomes_the_base_url_without_trailing_slash() -> None:
    settings = load_settings({"public_url": "https://cds.example.org/calc/"}, environ={})
    assert settings.base_url == "https://cds.example.org/calc"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CALCINOSIS_PORT": "eighty"}, "CALCINOSIS_PORT"),
        ({"CALCINOSIS_PORT": "70000"}, "CALCINOSIS_PORT"),
        ({"CALCINOSIS_MAX_BYTES": "0"}, "CALCINOSIS_MAX_BYTES"),
        ({"CALCINOSIS_PUBLIC_URL": "cds.example.org"}, "CALCINOSIS_PUBLIC_URL"),
        ({"CALCINOSIS_INSECURE_DEV": "perhaps"}, "CALCINOSIS_INSECURE_DEV"),
        ({"CALCINOSIS_FHIR_TIMEOUT_S": "-1"}, "CALCINOSIS_FHIR_TIMEOUT_S"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({}, environ=env)


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(SettingsError, match="https"):
        load_settings({"public_url": "http://cds.example.org"}, environ={})
    with pytest.raises(SettingsError, match="https"):
        load_settings({"host": "0.0.0.0"}, environ={})
    behind_proxy = load_settings(
        {"host": "0.0.0.0", "public_url": "https://cds.example.org"}, environ={}
    )
    assert behind_proxy.base_url == "https://cds.example.org"
    tinkering = load_settings({"public_url": "http://10.0.0.5:8000", "insecure_dev": True}, {})
    assert tinkering.insecure_dev is True


def test_insecure_dev_is_off_unless_asked_for() -> None:
    assert load_settings({}, environ={}).insecure_dev is False
    assert load_settings({}, environ={"CALCINOSIS_INSECURE_DEV": "true"}).insecure_dev is True


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_serve_prints_its_url_serves_the_demo_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    # The demo registry and session key go to a data directory of the test's own.
    server = start(["--port", str(port), "--demo"], env={"XDG_DATA_HOME": str(tmp_path)})
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first
        lines = [server.stdout.readline() for _ in range(4)]
        report_url = lines[1].split(": ", 1)[1].strip()
        assert "sign in at" in lines[2] and "Demo clinician: username" in lines[3]
        assert list(tmp_path.rglob("*.sqlite3"))
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        assert report_url.startswith(f"http://127.0.0.1:{port}/report/")
        assert httpx.get(report_url, timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "Traceback" not in err


def test_a_busy_port_is_one_clear_line_and_exit_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_environment_setting_is_a_usage_error() -> None:
    result = subprocess.run(
        [*CLI, "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CALCINOSIS_PUBLIC_URL": "not a url"},
    )
    assert result.returncode == 2
    assert "CALCINOSIS_PUBLIC_URL" in result.stderr and "Traceback" not in result.stderr
