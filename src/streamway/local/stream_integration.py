"""A STREAM integration: the function's prelude becomes the client's status and headers the
moment the 8-NUL delimiter arrives, then body chunks go on as the function sends them.

As API Gateway does (response-transfer-mode-lambda.html, facts §1):

- no delimiter within the first 16 KB, or a prelude that is not a JSON object: 500;
- ``headers`` are single-valued, ``multiValueHeaders`` win over them, ``cookies`` become
  ``Set-Cookie``; without ``Content-Length`` or ``Transfer-Encoding`` the body is chunked;
- the stream may last the integration timeout (up to 15 minutes) and may sit idle for 5.

Backpressure runs from the client to the function: one chunk is read from the invocation
(whose queue holds a few), then ``send()`` waits for the client's socket, and the emulator
stops reading the function's socket while its queue is full.

After the headers went out a failure can no longer change the status, so it cuts the
client's connection without the chunked body's end (curl exit 18): the function's error
trailers, its death, a timeout. What API Gateway shows a client after error trailers is not
documented (facts, open items); a cut is what streamway promises for a failed stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Send

from streamway.aws_contract import PRELUDE_DELIMITER, PRELUDE_MAX_BYTES
from streamway.local import gateway_responses as responses
from streamway.local.exchange import Exchange
from streamway.local.gateway_responses import GatewayResponse
from streamway.local.http1 import BodyBytes
from streamway.local.runtime_api import Invocation
from streamway.logs import AlreadyLogged

log = logging.getLogger("streamway.local.gateway")

_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade")
)


class Pacer(Protocol):
    """Bandwidth shaping applied before each chunk (``streamway.local.throttle``)."""

    async def pace(self, nbytes: int) -> None: ...


class StreamCut(AlreadyLogged):
    """Raised after the headers went out: the server drops the client's connection."""


@dataclass(frozen=True)
class StreamLimits:
    #: The integration timeout: the whole stream, from the request (timeoutInMillis).
    total_s: float
    #: The longest gap between two pieces of the stream (5 min for Regional endpoints).
    idle_s: float


class _TimedOut(Exception):
    pass


class _Chunks:
    """The invocation's body with the stream's time limits applied to every read."""

    def __init__(self, invocation: Invocation, limits: StreamLimits, started: float) -> None:
        self._iterator: AsyncIterator[BodyBytes] = invocation.chunks()
        self._limits = limits
        self._deadline = started + limits.total_s

    async def next(self) -> BodyBytes | None:
        wait = min(self._limits.idle_s, self._deadline - time.perf_counter())
        try:
            async with asyncio.timeout(max(wait, 0)):
                return await anext(self._iterator)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise _TimedOut() from None


async def relay_stream(
    invocation: Invocation,
    send: Send,
    exchange: Exchange,
    limits: StreamLimits,
    *,
    gateway_headers: Sequence[tuple[bytes, bytes]],
    pacers: Sequence[Pacer] = (),
    head_request: bool = False,
) -> GatewayResponse | None:
    """Streams the invocation to the client. Returns the gateway response to send instead
    when the stream fails before its headers; raises :class:`StreamCut` after them."""
    chunks = _Chunks(invocation, limits, exchange.started)
    head = b""
    index = -1
    try:
        while index < 0 and len(head) < PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER):
            chunk = await chunks.next()
            if chunk is None:
                break
            head += chunk
            index = head.find(PRELUDE_DELIMITER, 0, PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER))
    except _TimedOut:
        exchange.error = "integration timeout before the prelude"
        return responses.INTEGRATION_TIMEOUT
    if index < 0:
        if invocation.error is not None:
            exchange.error = f"function error: {invocation.error.get('errorType')}"
            return responses.BAD_GATEWAY
        exchange.error = "no 8-NUL delimiter within the first 16 KB"
        return responses.INTERNAL_ERROR
    try:
        status, headers = parse_prelude(head[:index])
    except ValueError as error:
        exchange.error = f"bad prelude: {error}"
        return responses.INTERNAL_ERROR

    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, *gateway_headers]}
    )
    exchange.headers_sent(status)
    length = _content_length(headers)
    exchange.content_complete = head_request or length == 0
    if exchange.content_complete:
        invocation.delivered = True
    rest = head[index + len(PRELUDE_DELIMITER) :]
    try:
        piece: BodyBytes | None = rest
        while piece is not None:
            if piece:
                for pacer in pacers:
                    await pacer.pace(len(piece))
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                exchange.content_sent(len(piece))
                if length is not None and exchange.bytes_out >= length:
                    exchange.content_complete = True
                    # The client may ask again before this stream's formal end; the
                    # sandbox is then as good as free (see Sandbox.returning).
                    invocation.delivered = True
            piece = await chunks.next()
    except _TimedOut:
        _cut(exchange, "the stream timed out (integration or idle timeout)")
    if invocation.error is not None:
        _cut(exchange, f"the function failed mid-stream: {invocation.error.get('errorType')}")
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    exchange.end(completed=True)
    return None


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def _cut(exchange: Exchange, reason: str) -> None:
    exchange.end(completed=False, error=reason)
    log.error("stream cut after its headers: %s", reason, extra={"request_id": exchange.request_id})
    raise StreamCut(reason)


def parse_prelude(data: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and response headers from a prelude; ValueError if API Gateway would
    refuse it."""
    prelude: Any = json.loads(data) if data.strip() else {}
    if not isinstance(prelude, dict):
        raise ValueError("the prelude is not a JSON object")
    return prelude_response(prelude)


def prelude_response(prelude: Mapping[str, Any]) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The status and response headers of a prelude already parsed as a JSON object."""
    status = status_code(prelude.get("statusCode", 200))
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} is out of range")
    merged = merge_headers(prelude.get("headers"), prelude.get("multiValueHeaders"))
    cookies = prelude.get("cookies") or []
    if not isinstance(cookies, list):
        raise ValueError("cookies is not a list")
    pairs = [(name, value) for name, values in merged.items() for value in values]
    pairs += [("set-cookie", str(cookie)) for cookie in cookies]
    if any(name == "transfer-encoding" for name, _ in pairs):
        # The function's own framing header is dropped: the server frames the body (and
        # Content-Length must not travel with Transfer-Encoding, RFC 9112 §6.1).
        pairs = [(name, value) for name, value in pairs if name != "content-length"]
    return status, [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in pairs
        if name not in _HOP_BY_HOP
    ]


def status_code(value: Any) -> int:
    """A proxy response's or prelude's ``statusCode`` (a number, or a string of one)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"statusCode {value!r} is not a number")
    return int(value)


def merge_headers(single: Any, multi: Any) -> dict[str, list[str]]:
    """``headers`` and ``multiValueHeaders`` merged with lower-case names; for a name in
    both, the multi-value list wins (as API Gateway merges them)."""
    if single is not None and not isinstance(single, dict):
        raise ValueError("headers is not an object")
    if multi is not None and not isinstance(multi, dict):
        raise ValueError("multiValueHeaders is not an object")
    merged: dict[str, list[str]] = {}
    for name, value in (single or {}).items():
        if value is not None:
            merged[str(name).lower()] = [_header_value(value)]
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise ValueError(f"multiValueHeaders[{name!r}] is not a list")
        merged[str(name).lower()] = [_header_value(value) for value in values]
    return merged


def _header_value(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(f"header value {value!r} is not a scalar")
    return str(value).lower() if isinstance(value, bool) else str(value)
