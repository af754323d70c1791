"""Plain handlers the runtime tests serve in a real function process (``STREAMWAY_HANDLER``).

Each shape streams ``first `` then ``second``. Between the two it waits at a *gate* when the
event names one (``gate``: a loopback port, in the query string or the direct event): it
connects and reads one byte, which the test sends only after it received the first chunk.
So "the first chunk left before the handler finished" is shown without any timing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamway.aws_lambda import HeadersAlreadySent, LambdaContext, ResponseStream

log = logging.getLogger("tests.handlers")

NOT_CALLABLE = "a handler setting may name anything"


def _params(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        return {}
    params: dict[str, Any] = dict(event.get("queryStringParameters") or {})
    params.update(
        {name: value for name, value in event.items() if name in ("gate", "fail", "count")}
    )
    return params


async def _wait_at_gate(event: Any) -> None:
    port = _params(event).get("gate")
    if port:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        await reader.readexactly(1)
        writer.close()


def _wait_at_gate_blocking(event: Any) -> None:
    port = _params(event).get("gate")
    if port:
        with socket.create_connection(("127.0.0.1", int(port))) as sock:
            sock.recv(1)


def _fail_early(event: Any) -> None:
    if _params(event).get("fail") == "early":
        raise ValueError("no answer for this one")


def _fail_late(event: Any) -> None:
    if _params(event).get("fail") == "late":
        raise RuntimeError("broke after the first chunk")


async def async_generator(event: Any, context: LambdaContext) -> AsyncIterator[str]:
    _fail_early(event)
    yield "first "
    _fail_late(event)
    await _wait_at_gate(event)
    yield "second"


def generator(event: Any, context: LambdaContext) -> Iterator[bytes]:
    _fail_early(event)
    yield b"first "
    _fail_late(event)
    _wait_at_gate_blocking(event)  # in the runtime's worker thread, not on its loop
    yield b"second"


def _set_status(stream: ResponseStream) -> None:
    stream.status_code = 500


def _set_header(stream: ResponseStream) -> None:
    stream.headers["x-late"] = "too late"


async def stream(event: Any, context: LambdaContext, stream: ResponseStream) -> None:
    stream.status_code = 201
    stream.content_type = "text/event-stream"
    stream.headers["X-Handler"] = "stream"
    stream.headers.add("set-cookie", "a=1; Path=/")
    stream.headers.add("set-cookie", "b=2")
    _fail_early(event)
    await stream.write("first ")
    _fail_late(event)
    for change in (_set_status, _set_header):
        try:
            change(stream)
        except HeadersAlreadySent:
            pass
        else:
            raise AssertionError(f"{change.__name__} worked after the first write")
    await _wait_at_gate(event)
    await stream.write(b"second")


# --- a caller that goes away: the generator must be stopped -----------------------------------

_MiB = b"x" * (1024 * 1024)


async def endless_async(event: Any, context: LambdaContext) -> AsyncIterator[bytes]:
    try:
        for _ in range(int(_params(event).get("count", 10_000))):
            yield _MiB
    finally:
        log.warning("endless_async closed")


def endless(event: Any, context: LambdaContext) -> Iterator[bytes]:
    sent = 0
    try:
        for _ in range(int(_params(event).get("count", 10_000))):
            yield _MiB
            sent += 1
    finally:
        log.warning("endless closed", extra={"sent": sent})


async def endless_stream(event: Any, context: LambdaContext, stream: ResponseStream) -> None:
    try:
        for _ in range(int(_params(event).get("count", 10_000))):
            await stream.write(_MiB)
    finally:
        log.warning("endless_stream closed")


# --- Node's streamifyResponse example, in Python (tests/local/node_function/index.mjs) ---------


async def like_node(event: Any, context: LambdaContext, stream: ResponseStream) -> None:
    stream.content_type = "text/plain"
    stream.headers.add("set-cookie", "a=1")
    await stream.write("hello ")
    await _wait_at_gate(event)
    if event.get("rawPath") == "/fail":
        raise Exception("boom")
    await stream.write("world")


# --- what is not a handler ---------------------------------------------------------------------


def plain_function(event: Any, context: LambdaContext) -> str:
    return "a buffered handler's answer; the runtime wants one that streams"


async def two_arguments(event: Any, context: LambdaContext) -> None:
    """An async def without the stream argument."""


def thread_name(event: Any, context: LambdaContext) -> Iterator[str]:
    yield threading.current_thread().name


async def yields_a_number(event: Any, context: LambdaContext) -> AsyncIterator[Any]:
    yield 42
