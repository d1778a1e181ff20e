"""`calcinosis serve`: the REST API, CDS Hooks service and web UI on uvicorn."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from calcinosis.errors import StartupError

if TYPE_CHECKING:
    from fastapi import FastAPI

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [env CALCINOSIS_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port [env CALCINOSIS_PORT].")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            metavar="URL",
            help="Base URL clients reach us at; CDS Hooks JWT audiences and card links use it "
            "[env CALCINOSIS_PUBLIC_URL]. Default: http://HOST:PORT.",
        ),
    ] = None,
    cds_clients: Annotated[
        Path | None,
        typer.Option(
            "--cds-clients",
            metavar="FILE",
            help='Trusted CDS clients, JSON: [{"iss": ..., "jwks": {...} | "jwks_url": ...}] '
            "[env CALCINOSIS_CDS_CLIENTS].",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option("--max-bytes", min=1, help="Largest request body [env CALCINOSIS_MAX_BYTES]."),
    ] = None,
    knowledge_dir: Annotated[
        Path | None,
        typer.Option(
            "--knowledge",
            metavar="DIR",
            help="Knowledge directory [env CALCINOSIS_KNOWLEDGE_DIR].",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option(
            "--insecure-dev",
            help="Accept CDS Hooks calls WITHOUT checking their JWT. Local tinkering only.",
        ),
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Preload the seed case's report; set up the registry (default SQLite) with the "
            "seed case and a demo clinician whose new random password is printed once.",
        ),
    ] = False,
) -> None:
    """Serve the REST API, the CDS Hooks service and the web UI until Ctrl-C."""
    import uvicorn
    from sqlalchemy.engine import make_url

    from calcinosis.registry.database import shown
    from calcinosis.registry.demo import served_database
    from calcinosis.web.app import create_app
    from calcinosis.web.settings import SettingsError, load_settings

    configure_logging()
    try:
        settings = load_settings(
            {
                "host": host,
                "port": port,
                "public_url": public_url,
                "cds_clients": cds_clients,
                "max_bytes": max_bytes,
                "knowledge_dir": knowledge_dir,
                "insecure_dev": True if insecure_dev else None,
            }
        )
        database, demo_registry = served_database(settings.database_url, demo=demo)
        settings = dataclasses.replace(settings, database_url=database)
        app = create_app(settings)
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None
    listener = _listen(settings.host, settings.port)
    base = settings.base_url
    print(f"Calcinosis is serving on {base}/ (Ctrl-C to stop)", flush=True)
    print(f"  API docs {base}/docs · CDS Hooks discovery {base}/cds-services", flush=True)
    if demo:
        report_id = _preload_demo(app)
        print(f"  Demo report (seed case): {base}/report/{report_id}", flush=True)
    if database:
        where = shown(make_url(database))
        print(f"  Registry {where}: sign in at {base}/sign-in", flush=True)
    else:
        print(
            "  No registry: set CALCINOSIS_DATABASE_URL or run `calcinosis registry init`",
            flush=True,
        )
    if demo_registry is not None:
        print(
            f"  Demo clinician: username {demo_registry.username}, password "
            f"{demo_registry.password} (shown once; a new one at every start)",
            flush=True,
        )
    # Everything built so far (knowledge, templates, routes) lives as long as the process: move
    # it out of the collector's view so full collections stay short under load.
    gc.collect()
    gc.freeze()
    # Requests allocate many short-lived objects; collecting the youngest generation less often
    # keeps per-request overhead and pauses down (measured with `make bench-service`).
    gc.set_threshold(50_000, 20, 20)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal; a stop the
    # operator asked for is a normal end (exit 0), not an abort.
    signal.signal(signal.SIGTERM, _stop_requested)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[listener])
    print("Calcinosis stopped.", flush=True)


def _stop_requested(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _listen(host: str, port: int) -> socket.socket:
    """Bind before starting, so a busy port is one clear line, not a server log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming the protocol matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # is IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _preload_demo(app: FastAPI) -> str:
    from calcinosis import demo as demo_data
    from calcinosis.web.context import context_of_app

    ctx = context_of_app(app)
    assessment = ctx.assess(demo_data.seed_bundle(), demo_data.SEED_AS_OF)
    return ctx.reports.add(assessment, "demo").id


def configure_logging(stream: TextIO | None = None) -> None:
    """The service's log lines (LOG_FORMAT) to `stream`, standard error by default."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    for name in ("calcinosis", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
