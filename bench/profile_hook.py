"""CPU per CDS Hooks `patient-view` call, and where it goes.

    .venv/bin/python bench/profile_hook.py [--calls 2000] [--vignette NAME] [--top 25]
                                           [--dump FILE] [--stats FILE]

Builds the app in-process as `calcinosis serve` does (settings, registry choice, logging to a
stream, the collector settings), trusting the CDS Hooks specification's published example key
(never trust it in production), and drives signed `patient-view` calls, each with a fresh `jti`,
straight through its ASGI interface. The prefetch is a realistic patient (the seed case by
default), filled in by the tests' CDS Client helper as bench_service.py does. As there, every
call carries the same patient, so what is remembered between calls (the card's escaped texts,
say) is met again for the record's own texts too, which a mix of patients would not do.

The calls go to the ASGI app directly, with a minimal hand-written driver rather than an HTTP
client, so the CPU counted is (nearly all) the server's: what uvicorn adds on top is HTTP
parsing, not measured here. CPU time (time.process_time) is reported rather than wall time, as
it is less affected by other work on the machine. Then a cProfile run of the same calls prints
the top functions by cumulative and by own time, and a breakdown times the assessment and the
JWT check on their own. `--dump FILE` writes one response with its random ids (card and
suggestion uuids, the report id) replaced by placeholders, for comparing behaviour before and
after a change; `--stats FILE` saves the profile for pstats. Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import io
import json
import pstats
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt

from calcinosis.cli.serve_cmd import configure_logging
from calcinosis.registry.demo import served_database
from calcinosis.web.app import create_app
from calcinosis.web.context import context_of_app
from calcinosis.web.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_cds_support import vignette

# Tokens are signed exactly as the service benchmark signs them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import ISSUER, SERVICE_HOOK, hook_request, sign_tokens

SHARED = Path(__file__).resolve().parents[2] / "shared"
SPEC = SHARED / "cdshooks" / "spec-2.0.1"
SEED = "dev-seed-palanivel-2026"
BASE = "http://127.0.0.1:8765"
WARM_CALLS = 50
BATCHES = 10
_RANDOM_IDS = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|/report/[A-Za-z0-9_\-]+"
)

Call = Callable[[str], Awaitable[tuple[int, bytes]]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--vignette", default=SEED, help="the dev vignette to prefetch")
    parser.add_argument("--top", type=int, default=25, help="rows per profile table")
    parser.add_argument("--dump", type=Path, help="write one normalised response here")
    parser.add_argument("--stats", type=Path, help="save the cProfile statistics here")
    args = parser.parse_args()
    if not SPEC.is_dir():
        sys.exit(f"profile_hook needs the CDS Hooks spec examples in {SPEC}")
    with tempfile.TemporaryDirectory(prefix="calcinosis-profile-") as tmp:
        asyncio.run(run(args, Path(tmp)))


async def run(args: argparse.Namespace, tmp: Path) -> None:
    app, log_sink = build_app(tmp)
    call, url, body = await patient_view_call(app, args.vignette)
    tokens = sign_tokens(url, WARM_CALLS + 3 * args.calls)
    print(f"Service {url}; prefetch body {len(body)} bytes; {args.calls} calls per measurement")

    status, first = await call(tokens.pop())
    if status != 200:
        sys.exit(f"the first call failed: {status} {first[:300]!r}")
    cards = json.loads(first)["cards"]
    print(f"Cards per response: {len(cards)}; response {len(first)} bytes")
    if args.dump:
        args.dump.write_text(_RANDOM_IDS.sub("<random>", first.decode()))
        print(f"Normalised response written to {args.dump}")
    for _ in range(WARM_CALLS - 1):
        await call(tokens.pop())

    median, best = await cpu_per_call(call, tokens, args.calls)
    print(
        f"\nCPU per call: median {median:.3f} ms, best {best:.3f} ms  (time.process_time, "
        f"{BATCHES} batches of {args.calls // BATCHES} calls)"
    )

    breakdown(app, body, url, tokens[-1])

    profiler = cProfile.Profile()
    batch = [tokens.pop() for _ in range(args.calls)]
    profiler.enable()
    for token in batch:
        await call(token)
    profiler.disable()
    if args.stats:
        profiler.dump_stats(args.stats)
    for key, title in (("cumulative", "cumulative time"), ("tottime", "own time")):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(key).print_stats(args.top)
        print(f"\n===== cProfile top {args.top} by {title} ({args.calls} calls) =====")
        print(_trimmed(out.getvalue()))
    log_sink.close()


def build_app(tmp: Path) -> tuple[Any, io.TextIOBase]:
    """The app as `calcinosis serve --public-url BASE --cds-clients FILE` builds it."""
    clients = tmp / "clients.json"
    jwks = json.loads((SPEC / "24-jwks-public-example.json").read_text())
    clients.write_text(json.dumps([{"iss": ISSUER, "jwks": jwks}]))
    # serve logs every request to stderr; here the lines go to a file, at the same cost.
    sink = (tmp / "server.log").open("w")
    configure_logging(sink)
    settings = load_settings({"public_url": BASE, "cds_clients": clients})
    database, _ = served_database(settings.database_url, demo=False)
    app = create_app(dataclasses.replace(settings, database_url=database))
    for thread in threading.enumerate():
        if thread.name == "cds-warm-up":
            thread.join()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    return app, sink


async def patient_view_call(app: Any, name: str) -> tuple[Call, str, bytes]:
    resources = vignette(name)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    status, raw = await asgi(app, "GET", "/cds-services", b"", [])
    if status != 200:
        sys.exit(f"discovery failed: {status}")
    service = next(s for s in json.loads(raw)["services"] if s["hook"] == SERVICE_HOOK)
    path = f"/cds-services/{service['id']}"
    body = hook_request(service, resources, patient["id"])

    async def call(token: str) -> tuple[int, bytes]:
        headers = [
            (b"host", b"127.0.0.1:8765"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        return await asgi(app, "POST", path, body, headers)

    return call, f"{BASE}{path}", body


async def asgi(
    app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    """One request through the ASGI interface, as uvicorn would present it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # the client stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def cpu_per_call(call: Call, tokens: list[str], calls: int) -> tuple[float, float]:
    """Median and best CPU ms per call over ten batches: a batch slowed by other work on the
    machine moves neither much."""
    batches = []
    errors = 0
    size = max(1, calls // BATCHES)
    for _ in range(BATCHES):
        batch = [tokens.pop() for _ in range(size)]
        started = time.process_time()
        for token in batch:
            status, _ = await call(token)
            errors += status != 200
        batches.append((time.process_time() - started) / size * 1000)
    if errors:
        print(f"  {errors} calls did not answer 200")
    return statistics.median(batches), min(batches)


def breakdown(app: Any, body: bytes, url: str, token: str) -> None:
    """The assessment (ingest and engine) and the JWT signature check, each on its own."""
    from calcinosis.fhir import jsonio
    from calcinosis.web.cdshooks.gather import _assemble, read_prefetch
    from calcinosis.web.cdshooks.hook_request import parse_hook_request
    from calcinosis.web.cdshooks.prefetch import templates

    ctx = context_of_app(app)
    request = parse_hook_request(jsonio.parse_json_bytes(body, len(body)), SERVICE_HOOK)
    prefetch = request.prefetch or {}
    kept = templates(ctx.knowledge)
    received = {t.key: read_prefetch(t.key, prefetch[t.key]) for t in kept if t.key in prefetch}
    bundle = _assemble(request, kept, received, {}, None).bundle
    jwks = json.loads((SPEC / "24-jwks-public-example.json").read_text())
    key = jwt.PyJWK(jwks["keys"][0], algorithm="ES384")
    rows: list[tuple[str, Callable[[], object]]] = [
        ("JSON parse of the body", lambda: jsonio.parse_json_bytes(body, len(body))),
        ("assessment (ingest + engine)", lambda: ctx.assess(bundle)),
        (
            "ES384 JWT verify (jwt.decode)",
            lambda: jwt.decode(
                token,
                key,
                algorithms=["ES384"],
                audience=url,
                issuer=ISSUER,
                options={"verify_exp": False},
            ),
        ),
    ]
    print("\nParts on their own (CPU ms per run, 300 runs each):")
    for label, work in rows:
        started = time.process_time()
        for _ in range(300):
            work()
        print(f"  {label:<32} {(time.process_time() - started) / 300 * 1000:.3f}")


def _trimmed(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    site = str(Path(sys.prefix))
    return "\n".join(line.replace(site, "<venv>") for line in lines[start:] if line.strip())


if __name__ == "__main__":
    main()
