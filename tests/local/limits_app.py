"""An app that answers at AWS's size limits exactly (``--app tests.local.limits_app:app``).

With the test API (``api.yaml``) ``/stream/<name>`` and ``/buffered/<name>`` reach ``<name>``:

- ``/body-size``: the size of the request body the function got, as JSON;
- ``/prelude?bytes=N``: a streamed response whose JSON prelude is exactly N bytes;
- ``/stream-total?bytes=N``: a streamed response of exactly N bytes on the Runtime API,
  prelude and 8-NUL delimiter included;
- ``/payload?bytes=N``: a buffered response whose proxy-response JSON is exactly N bytes.

The sizes are computed from the wire formats docs/lambda.md shows (the runtime writes the
prelude as compact JSON and a buffered payload as ``json.dumps`` of the proxy response), not
from streamway's code. Each limit is tested at N and N + 1, so a size computed wrongly here
fails one of the two tests rather than passing both.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send

TEXT = [(b"content-type", b"text/plain")]
CHUNK = 1024 * 1024


def prelude_bytes(headers: dict[str, str]) -> int:
    """The size of the runtime's prelude for a 200 with these single-valued headers."""
    prelude = {"statusCode": 200, "headers": headers}
    return len(json.dumps(prelude, separators=(",", ":")).encode())


def payload_bytes(body: str) -> int:
    """The size of the runtime's buffered REST (1.0) proxy response for a text/plain 200."""
    payload = {
        "statusCode": 200,
        "headers": {"content-type": "text/plain"},
        "multiValueHeaders": {},
        "body": body,
        "isBase64Encoded": False,
    }
    return len(json.dumps(payload).encode())


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    name = scope["path"].rsplit("/", 1)[-1]
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    size = int(query.get("bytes", "0"))
    received = await _body_size(receive)
    if name == "body-size":
        await _answer(send, TEXT, json.dumps({"bytes": received}).encode())
    elif name == "prelude":
        # One header pads the prelude to its size; its value is as long as that takes.
        pad = size - prelude_bytes({"content-type": "text/plain", "x-pad": ""})
        await _answer(send, [*TEXT, (b"x-pad", b"p" * pad)], b"ok")
    elif name == "stream-total":
        body = size - prelude_bytes({"content-type": "text/plain"}) - 8
        await send(_start(TEXT))
        while body > 0:
            piece = min(body, CHUNK)
            body -= piece
            await send({"type": "http.response.body", "body": b"s" * piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif name == "payload":
        await _answer(send, TEXT, b"b" * (size - payload_bytes("")))
    else:
        await _answer(send, TEXT, b"no such behaviour", status=404)


async def _body_size(receive: Receive) -> int:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            return size


def _start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _answer(
    send: Send, headers: list[tuple[bytes, bytes]], body: bytes, status: int = 200
) -> None:
    await send(_start(headers, status))
    await send({"type": "http.response.body", "body": body})
