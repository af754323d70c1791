"""The STREAM relay: the function's prelude becomes the client's status and headers the
moment the 8-NUL delimiter arrives, then body chunks go on as the function sends them.

As API Gateway does (response-transfer-mode-lambda.html, docs/aws-behaviour.md §1):

- no delimiter within the first 16 KB, or a prelude that is not a JSON object: 500;
- the prelude's status and headers as :mod:`streamway.local.response_head` reads them;
  without ``Content-Length`` or ``Transfer-Encoding`` the body is chunked;
- the stream may last the integration timeout (up to 15 minutes) and may sit idle for 5.

Backpressure runs from the client to the function: one chunk is read from the invocation
(whose queue holds a few), then ``send()`` waits for the client's socket, and the emulator
stops reading the function's socket while its queue is full.

After the headers went out a failure can no longer change the status, so it cuts the
client's connection without the chunked body's end (curl exit 18): the function's error
trailers, its death, a timeout. What API Gateway shows a client after error trailers is not
documented (docs/aws-behaviour.md, Open questions); a cut is what streamway promises for a
failed stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from streamway.aws_contract import PRELUDE_DELIMITER, PRELUDE_MAX_BYTES
from streamway.local import gateway_responses as responses
from streamway.local.http1 import BodyBytes
from streamway.local.outcome import GatewayAnswer, Streamed
from streamway.local.response_head import content_length, parse_prelude
from streamway.local.runtime_api import Invocation
from streamway.local.throttle import Pacer
from streamway.logs import AlreadyLogged

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Send


class Progress(Protocol):
    """What the relay reports as the response goes out (the request's Exchange)."""

    @property
    def started(self) -> float:
        """When the request arrived (``time.perf_counter``): the timeouts count from it."""
        ...

    @property
    def content_complete(self) -> bool:
        """The client has every body byte it will get, whether or not the stream ended."""
        ...

    def headers_sent(self, status: int, *, content_bytes: int | None = None) -> None:
        """The status and headers went out; ``content_bytes`` is the body's known length."""

    def content_sent(self, nbytes: int) -> None:
        """``nbytes`` more body bytes went out."""


class StreamCut(AlreadyLogged):
    """A failure after the headers went out: the server drops the client's connection.

    Whoever catches it logs it (with the request id) before letting it reach the server.
    """


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
    progress: Progress,
    limits: StreamLimits,
    *,
    gateway_headers: Sequence[tuple[bytes, bytes]],
    pacers: Sequence[Pacer] = (),
    head_request: bool = False,
) -> Streamed | GatewayAnswer:
    """Streams the invocation to the client: :class:`Streamed` once it is all sent, or the
    gateway's answer to send instead when the stream fails before its headers; raises
    :class:`StreamCut` when it fails after them."""
    chunks = _Chunks(invocation, limits, progress.started)
    try:
        head = await _read_prelude(chunks)
    except _TimedOut:
        return GatewayAnswer(
            responses.INTEGRATION_TIMEOUT, "integration timeout before the prelude"
        )
    index = head.find(PRELUDE_DELIMITER, 0, PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER))
    if index < 0:
        if invocation.error is not None:
            reason = f"function error: {invocation.error.get('errorType')}"
            return GatewayAnswer(responses.BAD_GATEWAY, reason)
        return GatewayAnswer(responses.INTERNAL_ERROR, "no 8-NUL delimiter within the first 16 KB")
    try:
        status, headers = parse_prelude(head[:index])
    except ValueError as error:
        return GatewayAnswer(responses.INTERNAL_ERROR, f"bad prelude: {error}")

    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, *gateway_headers]}
    )
    progress.headers_sent(status, content_bytes=0 if head_request else content_length(headers))
    try:
        await _relay_body(
            head[index + len(PRELUDE_DELIMITER) :], chunks, invocation, send, progress, pacers
        )
    except _TimedOut:
        raise StreamCut("the stream timed out (integration or idle timeout)") from None
    if invocation.error is not None:
        raise StreamCut(f"the function failed mid-stream: {invocation.error.get('errorType')}")
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return Streamed()


async def _read_prelude(chunks: _Chunks) -> bytes:
    """The stream's first bytes, up to and including the delimiter when it comes in time."""
    head = b""
    limit = PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER)
    while len(head) < limit:
        chunk = await chunks.next()
        if chunk is None:
            break
        head += chunk
        if head.find(PRELUDE_DELIMITER, 0, limit) >= 0:
            break
    return head


async def _relay_body(
    first: BodyBytes,
    chunks: _Chunks,
    invocation: Invocation,
    send: Send,
    progress: Progress,
    pacers: Sequence[Pacer],
) -> None:
    """The body, chunk by chunk, each paced and sent before the next is read."""
    if progress.content_complete:
        invocation.delivered = True
    piece: BodyBytes | None = first
    while piece is not None:
        if piece:
            for pacer in pacers:
                await pacer.pace(len(piece))
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            progress.content_sent(len(piece))
            if progress.content_complete:
                # The client may ask again before this stream's formal end; the sandbox is
                # then as good as free (see Sandbox.returning).
                invocation.delivered = True
        piece = await chunks.next()
