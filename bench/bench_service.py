"""CDS Hooks service under a fixed arrival rate: latency percentiles and errors.

    make bench-service     (or: .venv/bin/python bench/bench_service.py [--rate 200] [--seconds 60])

Starts `calcinosis serve` in its own process on a loopback port, trusting the CDS Hooks
specification's published example key (never trust it in production). Then sends signed
`patient-view` calls, each with a fresh `jti`, whose prefetch is a realistic patient (the
seed case, or another dev vignette given with --vignette). Requests leave on a fixed schedule
whatever the server's pace (an open loop), and each latency is counted from the moment its
request was due, so a stalled server cannot hide its queue. Also prints the server process's
CPU time per call, which depends far less than latency on what else the machine is doing.
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

# The tests' CDS Client helper fills prefetch templates by running their searches over a record,
# as an EHR would; the benchmark reuses it rather than keeping a second copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_cds_support import prefetch_for, vignette

SHARED = Path(__file__).resolve().parents[2] / "shared"
SPEC = SHARED / "cdshooks" / "spec-2.0.1"
SEED = "dev-seed-palanivel-2026"
ISSUER = "https://fhir-ehr.example.com/"
SERVICE_HOOK = "patient-view"
POOL_SIZE = 32
"""Connections kept open to the service: at 200/s and a few ms each, far more than ever busy."""
TRANSPORT_ERRORS: Counter[str] = Counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    parser.add_argument(
        "--vignette", default=SEED, help="the dev vignette whose patient is prefetched"
    )
    args = parser.parse_args()
    if not SPEC.is_dir():
        sys.exit(f"bench-service needs the CDS Hooks spec examples in {SPEC}")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        clients = Path(tmp) / "clients.json"
        jwks = json.loads((SPEC / "24-jwks-public-example.json").read_text())
        clients.write_text(json.dumps([{"iss": ISSUER, "jwks": jwks}]))
        log = Path(tmp) / "server.log"
        server = start_server(port, base, clients, log)
        try:
            asyncio.run(run(base, args.rate, args.seconds, args.vignette, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=10)
        report_server_side(log)


def hook_request(service: dict[str, Any], resources: list[Any], patient_id: str) -> bytes:
    """A patient-view request for `patient_id`, its prefetch filled from `resources`."""
    return json.dumps(
        {
            "hook": SERVICE_HOOK,
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": patient_id},
            "prefetch": prefetch_for(service, resources, patient_id),
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, base: str, clients: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "calcinosis.cli.main", "serve", "--port", str(port)]
    command += ["--public-url", base, "--cds-clients", str(clients)]
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    sys.exit("the server did not become ready within 30 s")


async def run(base: str, rate: float, seconds: float, name: str, server_pid: int) -> None:
    resources = vignette(name)  # as an EHR holds them: relative references, dates up to today
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    discovery = httpx.get(f"{base}/cds-services").json()["services"]
    service = next(s for s in discovery if s["hook"] == SERVICE_HOOK)
    url = f"{base}/cds-services/{service['id']}"
    body = hook_request(service, resources, patient["id"])
    total = int(rate * seconds)
    tokens = sign_tokens(url, total + 1)
    print(f"Service {url}; {total} calls at {rate:g}/s over {seconds:g} s; body {len(body)} bytes")
    print(f"Signed {len(tokens)} ES384 JWTs in advance (unique jti each)")

    warm = httpx.post(url, content=body, headers=headers(tokens.pop()), timeout=30)
    if warm.status_code != 200:
        sys.exit(f"warm-up call failed: {warm.status_code} {warm.text[:300]}")
    cards = len(warm.json().get("cards", []))
    pool = Connections(url, POOL_SIZE)
    await pool.open()
    cpu_before = process_cpu_s(server_pid)
    start = time.perf_counter() + 0.5
    calls = [call(pool, body, tokens[i], start + i / rate) for i in range(total)]
    results = await asyncio.gather(*calls)
    cpu_after = process_cpu_s(server_pid)
    await pool.close()
    report(results, cards, rate, seconds)
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        print(
            f"Server CPU per call: {used / total * 1000:.2f} ms "
            f"(the server process was busy {used / seconds:.0%} of one core)"
        )


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far, from /proc; None elsewhere.

    Unlike latency, this hardly depends on what else the machine is doing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign_tokens(audience: str, count: int) -> list[str]:
    key = jwt.PyJWK(json.loads((SPEC / "25-jwk-private-example.json").read_text()))
    now = int(time.time())
    return [
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": audience,
                "iat": now,
                "exp": now + 600,
                "jti": str(uuid.uuid4()),
            },
            key.key,
            algorithm="ES384",
            headers={"kid": key.key_id or "example-kid", "typ": "JWT"},
        )
        for _ in range(count)
    ]


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


class Connections:
    """A fixed pool of keep-alive HTTP/1.1 connections to one server, written by hand.

    A general client (httpx) spends about a millisecond of CPU per request; on a 2-core machine
    shared with the server that would be measured as server latency. This one only writes a
    fixed request and reads a Content-Length response. Like an EHR's connection pool, it opens
    its connections up front and a call waits for a free one (the wait counts as latency), so a
    slow moment never turns into a storm of new connections."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "", parts.port or 80, parts.path
        self.size = size
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.free.put_nowait(await self._open())

    async def post(self, body: bytes, token: str) -> int:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        reader, writer = await self.free.get()
        try:
            status = await self._exchange(reader, writer, head + body)
            if status is None:
                # Closed by the server while idle (uvicorn closes idle connections after 5 s):
                # reconnect and send again, as any client would.
                writer.close()
                reader, writer = await self._open()
                status = await self._exchange(reader, writer, head + body)
            if status is None:
                raise ConnectionResetError("the server closed a new connection")
            return status
        except BaseException:
            writer.close()
            reader, writer = await self._open()
            raise
        finally:
            self.free.put_nowait((reader, writer))

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> int | None:
        """The response status, or None when the server had closed the connection."""
        writer.write(request)
        status_line = await reader.readline()
        if not status_line:
            return None
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1])

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()


async def call(pool: Connections, body: bytes, token: str, due: float) -> tuple[float, int]:
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    try:
        status = await asyncio.wait_for(pool.post(body, token), timeout=10)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
        status = 0  # a broken or stalled connection counts as an error, and is not reused
        TRANSPORT_ERRORS[type(exc).__name__] += 1
    return (time.perf_counter() - due) * 1000, status


def report(results: list[tuple[float, int]], cards: int, rate: float, seconds: float) -> None:
    latencies = sorted(ms for ms, _ in results)
    errors = sum(1 for _, status in results if status != 200)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"Cards per response: {cards}")
    print(f"Requests: {len(results)}  errors (non-200 or transport): {errors}")
    if errors:
        statuses = Counter(status for _, status in results if status != 200)
        print("  by status (0 = transport error or 10 s timeout):", dict(sorted(statuses.items())))
        if TRANSPORT_ERRORS:
            print("  transport errors:", dict(TRANSPORT_ERRORS))
    print(
        f"Latency ms  p50 {cuts[49]:.2f}  p95 {cuts[94]:.2f}  p99 {cuts[98]:.2f}  "
        f"max {latencies[-1]:.2f}"
    )
    print(
        "Target p99 <= 50 ms with 0 errors; goal p99 <= 20 ms "
        f"(at {rate:g} requests/s for {seconds:g} s, {os.cpu_count()} cores)"
    )


def report_server_side(log: Path) -> None:
    """The server's own view (its access log's latency: request in to response out), which
    leaves out the client's and the network's share."""
    hook_ms = sorted(
        line["latency_ms"]
        for line in _access_lines(log)
        if line.get("route") == "/cds-services/{service_id}"
    )
    if len(hook_ms) >= 2:
        cuts = statistics.quantiles(hook_ms, n=100, method="inclusive")
        print(f"Server-side ms  p50 {cuts[49]:.2f}  p95 {cuts[94]:.2f}  p99 {cuts[98]:.2f}")


def _access_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for text in log.read_text(errors="replace").splitlines():
        _, marker, payload = text.partition(" calcinosis.access ")
        if marker:
            lines.append(json.loads(payload))
    return lines


if __name__ == "__main__":
    main()
