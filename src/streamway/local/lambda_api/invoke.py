"""Running one Lambda API invocation on a function's pool, and answering it.

- :func:`invoke_buffered`: ``Invoke`` (RequestResponse): the whole payload, up to Lambda's
  6 MB; a failed function is status 200 with ``X-Amz-Function-Error: Unhandled`` and the
  error object as the payload, as Lambda answers.
- :func:`invoke_streamed`: ``InvokeWithResponseStream``: one ``PayloadChunk`` event per
  chunk as the function sends it, then ``InvokeComplete``, with ``ErrorCode`` (the error
  type) and ``ErrorDetails`` (its message) when the function failed, even mid-stream.
- :func:`invoke_in_background`: ``Event``: run once the caller has its 202.

With ``LogType=Tail`` (``tail``), each answers the last 4 KB of the invocation's log, base64
(``X-Amz-Log-Result``; ``LogResult`` in ``InvokeComplete``), from the sandbox's
:class:`~streamway.local.function_logs.SandboxLog`: START, the function's stdout and stderr,
END and REPORT, as Lambda's.

A caller that leaves cancels the invocation, as the gateway does for its clients.
"""

from __future__ import annotations

import base64
import json
import logging
import time
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
from streamway.local.function_logs import Report
from streamway.local.functions import ABANDONED, FunctionPool, InitFailed, Lease, Throttled
from streamway.local.lambda_api.errors import too_many_requests
from streamway.local.lambda_api.event_stream import CONTENT_TYPE, blob_message, event_message
from streamway.local.process_facts import rss_mib
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
    #: ``X-Amz-Log-Result``: base64 of the log's tail, when asked for.
    log_result: str | None = None


class _Running:
    """An invocation being read; cancelled on leaving unless read to its end."""

    def __init__(self, lease: Lease, invocation: Invocation) -> None:
        self.lease = lease
        self.invocation = invocation
        self.read_to_end = False

    async def log_tail(self) -> str:
        """The invocation's log, ended with END and REPORT: its last 4 KB, base64."""
        sandbox, invocation = self.lease.sandbox, self.invocation
        started = invocation.received_at or time.perf_counter()
        pid = sandbox.process.pid if sandbox.process else None
        report = Report(
            request_id=invocation.request_id,
            duration_ms=(time.perf_counter() - started) * 1000,
            memory_mb=sandbox.spec.memory_mb,
            max_memory_mib=rss_mib(pid, peak=True) if pid else None,
            init_ms=self.lease.init_ms,
        )
        return base64.b64encode(await sandbox.logs.end(report)).decode()


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
        running = _Running(lease, await lease.invoke(event))
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


async def invoke_buffered(
    pool: FunctionPool, event: Any, receive: Receive, *, tail: bool = False
) -> Answer:
    """``Invoke`` with RequestResponse: the function's whole payload or its error."""
    log_result = None
    try:
        async with _invocation(pool, event, receive) as running:
            invocation = running.invocation
            payload = await until_disconnect(whole_payload(invocation), receive)
            running.read_to_end = payload is not None
            if tail:
                log_result = await running.log_tail()
    except InitFailed as failed:
        return Answer("", _json(error_object(INIT_ERROR, str(failed))), function_error=True)
    request_id = invocation.request_id
    if payload is None:
        too_large = error_object(
            RESPONSE_SIZE_TOO_LARGE,
            "Response payload size exceeded maximum allowed payload size "
            f"({LAMBDA_MAX_BUFFERED_RESPONSE_BYTES} bytes).",
        )
        return Answer(request_id, _json(too_large), function_error=True, log_result=log_result)
    if invocation.error is not None:
        error = _json(invocation.error)
        return Answer(request_id, error, function_error=True, log_result=log_result)
    return Answer(request_id, payload, function_error=False, log_result=log_result)


async def invoke_streamed(
    pool: FunctionPool, event: Any, receive: Receive, send: Send, *, tail: bool = False
) -> None:
    """``InvokeWithResponseStream``: the response head once the function runs, then its
    chunks as ``PayloadChunk`` events and ``InvokeComplete``."""
    log_result = None
    try:
        async with _invocation(pool, event, receive) as running:
            invocation = running.invocation
            await send(_stream_head(invocation.request_id))
            error = await until_disconnect(_relay_events(invocation, send), receive)
            running.read_to_end = error is None or error is invocation.error
            if tail:
                log_result = await running.log_tail()
    except InitFailed as failed:
        await send(_stream_head(""))
        error = error_object(INIT_ERROR, str(failed))
    complete = _complete(error, log_result)
    await send({"type": "http.response.body", "body": complete, "more_body": False})


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


def _complete(error: dict[str, Any] | None, log_result: str | None) -> bytes:
    body: dict[str, Any] = {}
    if error is not None:
        body = {
            "ErrorCode": str(error.get("errorType", "Unhandled")),
            "ErrorDetails": str(error.get("errorMessage", "")),
        }
    if log_result is not None:
        body["LogResult"] = log_result
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
