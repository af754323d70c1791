"""Run a protocol peer (any ASGI app) under uvicorn on a free loopback port, in a thread.

A thread rather than a subprocess so a test can script the peer and read what it received
as plain Python objects; the streamway server under test is still a separate process, so
everything between the two crosses a real socket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Receive

from tests.servers import free_port


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Serves ``app`` until the block ends; yields its base URL, ``http://127.0.0.1:<port>``."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"peer-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError(f"the peer on port {port} did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def read_body(receive: Receive) -> bytes:
    """The whole request body a peer was sent."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body
