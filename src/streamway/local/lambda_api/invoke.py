"""Running one Lambda API invocation on a function's pool, and answering it.

- :func:`invoke_buffered`: ``Invoke`` (RequestResponse): the whole payload, up to Lambda's
  6 MB; a failed function is status 200 with ``X-Amz-Function-Error: Unhandled`` and the
  error object as the payload, as Lambda answers.
- :func:`invoke_streamed`: ``InvokeWithResponseStream``: one ``PayloadChunk`` event per
  chunk as the function sends it, then ``InvokeComplete``, with ``ErrorCode`` (the error
  type) and ``ErrorDetails`` (its message) when the function failed, even mid-stream.
- :func:`invoke_in_background`: ``Event``: run once the caller has its 202.

A caller that leaves cancels the invocation, as the gateway does for its clients.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamway.aws_contract import (
    LAMBDA_MAX_BUFFERED_RESPONSE_BYTES,
    LAMBDA_MAX_STREAMED_RESPONSE_BYTES,
    RESPONSE_SIZE_TOO_LARGE,
    error_object,
)
from streamway.http.disconnect import until_disconnect
from streamway.local.buffered_relay import whole_payload
from streamway.local.functions import ABANDONED, FunctionPool, InitFailed, Throttled
from streamway.local.lambda_api.errors import too_many_requests
from streamway.local.lambda_api.event_stream import CONTENT_TYPE, blob_message, event_message
from streamway.local.runtime_api import Invocation

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Receive, Send

log = logging.getLogger("streamway.local.lambda_api")

#: What the single version of a local function is called.
EXECUTED_VERSION = b"$LATEST"
#: The error type of a sandbox that failed its init (the runtime's own is in the log).
INIT_ERROR = "Runtime.Unknown"


@dataclass(frozen=True)
class Answer:
    """What ``Invoke`` answers: the request id, the payload, and whether the function failed."""

    request_id: str
    payload: bytes
    function_error: bool


class _Running:
    """An invocation being read; cancelled on leaving unless read to its end."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.read_to_end = False


@asynccontextmanager
async def _invocation(
    pool: FunctionPool, event: Any, receive: Receive | None
) -> AsyncIterator[_Running]:
    """A sandbox of ``pool`` running ``event``; raises the service's 429 at the concurrency
    limit and :class:`InitFailed` when a new sandbox fails to start."""
    acquiring = pool.acquire()
    try:
        lease = await (until_disconnect(acquiring, receive) if receive else acquiring)
    except Throttled:
        raise too_many_requests() from None
    running: _Running | None = None
    try:
        running = _Running(await lease.invoke(event))
        yield running
    finally:
        if running is not None and not running.read_to_end:
            invocation = running.invocation
            log.warning(
                "invocation abandoned: its caller left or it passed a size limit",
                extra={"function": pool.spec.name, "lambda_request_id": invocation.request_id},
            )
            invocation.cancel(error_object(ABANDONED, "no one is reading"))
        lease.release()


async def invoke_buffered(pool: FunctionPool, event: Any, receive: Receive) -> Answer:
    """``Invoke`` with RequestResponse: the function's whole payload or its error."""
    try:
        async with _invocation(pool, event, receive) as running:
            invocation = running.invocation
            payload = await until_disconnect(whole_payload(invocation), receive)
            running.read_to_end = payload is not None
    except InitFailed as failed:
        return Answer("", _json(error_object(INIT_ERROR, str(failed))), function_error=True)
    if payload is None:
        too_large = error_object(
            RESPONSE_SIZE_TOO_LARGE,
            "Response payload size exceeded maximum allowed payload size "
            f"({LAMBDA_MAX_BUFFERED_RESPONSE_BYTES} bytes).",
        )
        return Answer(invocation.request_id, _json(too_large), function_error=True)
    if invocation.error is not None:
        return Answer(invocation.request_id, _json(invocation.error), function_error=True)
    return Answer(invocation.request_id, payload, function_error=False)


async def invoke_streamed(pool: FunctionPool, event: Any, receive: Receive, send: Send) -> None:
    """``InvokeWithResponseStream``: the response head once the function runs, then its
    chunks as ``PayloadChunk`` events and ``InvokeComplete``."""
    try:
        async with _invocation(pool, event, receive) as running:
            invocation = running.invocation
            await send(_stream_head(invocation.request_id))
            error = await until_disconnect(_relay_events(invocation, send), receive)
            running.read_to_end = error is None or error is invocation.error
    except InitFailed as failed:
        await send(_stream_head(""))
        error = error_object(INIT_ERROR, str(failed))
    await send({"type": "http.response.body", "body": _complete(error), "more_body": False})


async def _relay_events(invocation: Invocation, send: Send) -> dict[str, Any] | None:
    """The function's chunks as ``PayloadChunk`` events, each sent before the next is read
    (backpressure reaches the function); how the stream ended."""
    size = 0
    async for chunk in invocation.chunks():
        size += len(chunk)
        if size > LAMBDA_MAX_STREAMED_RESPONSE_BYTES:
            return error_object(
                RESPONSE_SIZE_TOO_LARGE,
                "Response payload size exceeded maximum allowed payload size "
                f"({LAMBDA_MAX_STREAMED_RESPONSE_BYTES} bytes).",
            )
        if chunk:
            message = blob_message("PayloadChunk", bytes(chunk))
            await send({"type": "http.response.body", "body": message, "more_body": True})
    return invocation.error


def _stream_head(request_id: str) -> dict[str, Any]:
    headers = [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"x-amzn-requestid", request_id.encode()),
        (b"x-amz-executed-version", EXECUTED_VERSION),
    ]
    return {"type": "http.response.start", "status": 200, "headers": headers}


def _complete(error: dict[str, Any] | None) -> bytes:
    body: dict[str, Any] = {}
    if error is not None:
        body = {
            "ErrorCode": str(error.get("errorType", "Unhandled")),
            "ErrorDetails": str(error.get("errorMessage", "")),
        }
    return event_message("InvokeComplete", body)


async def invoke_in_background(pool: FunctionPool, event: Any) -> None:
    """``Event``: the invocation runs to its end with nobody waiting; its failure is logged
    (Lambda would retry it twice, then send it to a destination: streamway local does not)."""
    try:
        async with _invocation(pool, event, None) as running:
            invocation = running.invocation
            async for _ in invocation.chunks():
                pass
            running.read_to_end = True
    except Exception as error:  # nobody to answer: the log is where it shows
        log.warning("asynchronous invocation not run: %s", error)
        return
    if invocation.error is not None:
        log.warning(
            "asynchronous invocation failed: %s",
            invocation.error.get("errorType"),
            extra={"function": pool.spec.name, "lambda_request_id": invocation.request_id},
        )


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
