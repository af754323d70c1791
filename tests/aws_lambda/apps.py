"""Small ASGI apps the runtime tests run in a real function process (``STREAMWAY_APP``)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from streamway.service.errors import StreamAborted

MiB = 1024 * 1024

_lifespan_startups = 0
_loops: set[int] = set()


async def _lifespan(receive: Receive, send: Send) -> None:
    global _lifespan_startups
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _lifespan_startups += 1
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


def _start(status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": headers if headers is not None else [(b"content-type", b"text/plain")],
    }


def _body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Routes by path to the behaviours the tests need."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    request = await receive()
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    query = dict(
        part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
    )
    if path == "/headers":
        await send(
            _start(
                201,
                [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"x-repeated", b"one"),
                    (b"x-repeated", b"two"),
                    (b"set-cookie", b"a=1; Path=/"),
                    (b"set-cookie", b"b=2; HttpOnly"),
                ],
            )
        )
        await send(_body(b"hello"))
    elif path == "/slow":
        await send(_start())
        await send(_body(b"first", more=True))
        await asyncio.sleep(float(query.get("pause", "1")))
        await send(_body(b"last"))
    elif path == "/abort":
        await send(_start())
        await send(_body(b"partial answer", more=True))
        raise StreamAborted("the model failed after the response started")
    elif path == "/fail-early":
        raise ValueError("failed before any response")
    elif path == "/incomplete":
        await send(_start())
        await send(_body(b"cut", more=True))
    elif path == "/empty":
        await send(_start(204, []))
        await send(_body(b""))
    elif path == "/binary":
        data = bytes(range(256)) * 4 + b"\x00" * 8 + b"\xff\xfe"
        await send(_start(200, [(b"content-type", b"application/octet-stream")]))
        await send(_body(data[:100], more=True))
        await send(_body(data[100:]))
    elif path == "/large":
        size = int(query.get("mib", "100")) * MiB
        chunk = b"x" * MiB
        await send(_start(200, [(b"content-type", b"application/octet-stream")]))
        for _ in range(size // MiB):
            await send(_body(chunk, more=True))
        await send(_body(b""))
    elif path in ("/context", "/events"):
        _loops.add(id(asyncio.get_running_loop()))
        context = scope["aws.context"]
        payload: dict[str, Any] = {
            "trace_id_env": os.environ.get("_X_AMZN_TRACE_ID"),
            "request_id": context.aws_request_id,
            "deadline_ms": context.deadline_ms,
            "function_arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "lifespan_startups": _lifespan_startups,
            "event_loops": len(_loops),
            "loop_module": type(asyncio.get_running_loop()).__module__,
            "pid": os.getpid(),
            "method": scope["method"],
            "path": scope["path"],
            "body": request["body"].decode(),
        }
        await send(_start(200, [(b"content-type", b"application/json")]))
        await send(_body(json.dumps(payload).encode()))
    else:
        await send(_start(404))
        await send(_body(b"no such test route"))


async def failing_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "the model file is missing"})


async def no_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that refuses lifespan scopes, as many small ASGI apps do."""
    assert scope["type"] == "http", "no lifespan support"
    await receive()
    await send(_start())
    await send(_body(b"no lifespan needed"))


async def lifespan_crash(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("could not connect to the database")
