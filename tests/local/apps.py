"""The ASGI app the gateway tests' functions serve (``--app tests.local.apps:app``).

``/stream/<name>`` and ``/buffered/<name>`` (see ``api.yaml``) both reach ``<name>`` here;
which function answers, and so in which mode, is the gateway's choice from the definition.
Behaviours shared with the runtime tests come from :mod:`tests.aws_lambda.apps`.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from starlette.types import Receive, Scope, Send

from tests.aws_lambda import apps as runtime_apps

PID_HEADER = b"x-function-pid"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        await runtime_apps.app(scope, receive, send)
        return
    root = scope.get("root_path", "")
    section, _, rest = scope["path"].removeprefix(root).lstrip("/").partition("/")
    name = "/" + rest
    if name == "/event" or section == "items":
        await _echo_event(scope, receive, send)
    elif name == "/big-header":
        # A prelude of more than 16 KB: its delimiter comes too late for API Gateway.
        await _text(send, b"unreachable", [(b"x-big", b"b" * 20_000)])
    elif name == "/exit":
        await receive()
        os._exit(3)
    elif name == "/exit-mid-stream":
        await send(_start([(b"content-type", b"text/plain")]))
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        os._exit(3)
    elif name == "/trickle":
        # A piece every 0.2 s for `seconds`: never idle, but long.
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if p)
        await receive()
        await send(_start([(b"content-type", b"text/plain")]))
        deadline = asyncio.get_running_loop().time() + float(query.get("seconds", "5"))
        while asyncio.get_running_loop().time() < deadline:
            await send({"type": "http.response.body", "body": b".", "more_body": True})
            await asyncio.sleep(0.2)
        await send({"type": "http.response.body", "body": b"end"})
    elif name == "/pid":
        await _text(send, str(os.getpid()).encode(), [(PID_HEADER, str(os.getpid()).encode())])
    elif name == "/base64":
        await _text(send, bytes(range(256)), [(b"content-type", b"image/png")])
    elif name == "/multi":
        await send(
            _start(
                [
                    (b"content-type", b"text/plain"),
                    (b"x-one", b"1"),
                    (b"x-two", b"a"),
                    (b"x-two", b"b"),
                    (b"set-cookie", b"a=1"),
                    (b"set-cookie", b"b=2"),
                ]
            )
        )
        await send({"type": "http.response.body", "body": b"multi"})
    else:
        # The runtime tests' behaviours (/slow, /abort, /large, /headers, ...), under a root
        # path that hides this app's first segment.
        await runtime_apps.app({**scope, "root_path": f"{root}/{section}"}, receive, send)


def _start(headers: list[tuple[bytes, bytes]], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _text(send: Send, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    if not any(name == b"content-type" for name, _ in headers):
        headers = [(b"content-type", b"text/plain"), *headers]
    await send(_start(headers))
    await send({"type": "http.response.body", "body": body})


async def _echo_event(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    payload = {
        "event": scope["aws.event"],
        "scope_path": scope["path"],
        "scope_root_path": scope["root_path"],
        "body": message["body"].decode("latin-1"),
        "pid": os.getpid(),
    }
    await _text(send, json.dumps(payload).encode(), [(b"content-type", b"application/json")])
