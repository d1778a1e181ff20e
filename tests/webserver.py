"""Run the real app on uvicorn in a background thread, bound to 127.0.0.1 on a free port.

    with serving(lambda base_url: create_app(Settings(public_url=base_url))) as base_url:
        httpx.get(base_url + "/health")

The socket is bound before the app is built, so the app can know its own public URL (CDS Hooks
JWTs name it as their audience). The server stops when the block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(build: Callable[[str], FastAPI]) -> Iterator[str]:
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (see serve_cmd._listen).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(build(base_url), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
