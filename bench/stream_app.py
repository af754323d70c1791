"""The benchmark's app: streams STREAM_MIB MiB (default 256) of bytes in 1 MiB chunks."""

from __future__ import annotations

import os

from starlette.types import Receive, Scope, Send

MiB = 1024 * 1024
_CHUNK = b"x" * MiB


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # no lifespan work
    await receive()
    size = int(os.environ.get("STREAM_MIB", "256"))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(size * MiB).encode()),
            ],
        }
    )
    for _ in range(size):
        await send({"type": "http.response.body", "body": _CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
