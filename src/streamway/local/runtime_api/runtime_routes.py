"""The Runtime API's routes: ``invocation/next``, an invocation's ``response`` and ``error``,
and ``init/error``, as a function's runtime calls them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from streamway.aws_contract import (
    DEADLINE_MS_HEADER,
    ERROR_TYPE_HEADER,
    EXIT_ERROR,
    FUNCTION_ARN_HEADER,
    LAMBDA_MAX_BUFFERED_RESPONSE_BYTES,
    LAMBDA_MAX_REQUEST_BYTES,
    REQUEST_ID_HEADER,
    TRACE_ID_HEADER,
    error_object,
)
from streamway.local.http1 import BadRequest, PayloadTooLarge, Request
from streamway.local.runtime_api.invocation import Invocation
from streamway.local.runtime_api.registry import Registry
from streamway.local.runtime_api.responder import Responder
from streamway.local.runtime_api.wire import (
    ResponseTooLarge,
    event_bytes,
    function_error,
    json_or_text,
    response_mode,
    trailer_error,
)


async def next_event(responder: Responder, registry: Registry) -> None:
    """A long poll: waits for the next invocation and hands its event to the function."""
    invocation = await _unless_gone(responder, registry.next_invocation())
    invocation.hand_out(responder.stream)
    headers = [
        ("content-type", "application/json"),
        (REQUEST_ID_HEADER, invocation.request_id),
        (DEADLINE_MS_HEADER, str(invocation.deadline_ms)),
        (FUNCTION_ARN_HEADER, registry.config.arn),
        (TRACE_ID_HEADER, invocation.trace_id),
    ]
    try:
        await responder.write(200, headers, event_bytes(invocation.event))
    except ConnectionError:
        await invocation.end(error_object(EXIT_ERROR, "the runtime went away"))
        raise


async def _unless_gone(responder: Responder, waiting: Awaitable[Invocation]) -> Invocation:
    """The invocation ``waiting`` gives; ``ConnectionResetError`` if the runtime hangs up its
    long poll first (a runtime that lost its connection asks again on a new one: an event
    handed to the old one would be lost, and under concurrency its slot with it)."""
    taken = asyncio.ensure_future(waiting)
    gone = asyncio.ensure_future(responder.stream.wait_for_data())
    try:
        await asyncio.wait({taken, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not taken.done() and gone.exception() is None:
            return await taken  # bytes after a `next` are the next request's: not a hang-up
    finally:
        gone.cancel()
        if not taken.done():
            taken.cancel()
    try:
        return await taken
    except asyncio.CancelledError:
        raise ConnectionResetError("the runtime left its invocation/next call") from None


async def response(
    responder: Responder, invocation: Invocation, request: Request, max_streamed: int | None
) -> None:
    """The function's answer, buffered or streamed, read piece by piece into the invocation's
    body; a streamed one may end with error trailers (a failure mid-stream)."""
    source = responder.stream
    mode = response_mode(request.headers)
    invocation.start_response(mode, request.headers, source)
    await asyncio.sleep(0)  # let a waiting caller see the start before the body is read
    limit = max_streamed if mode == "streaming" else LAMBDA_MAX_BUFFERED_RESPONSE_BYTES
    try:
        await invocation.open_body()
        # Pieces of at most 1 MiB whatever a chunk declares; past the limit, refused
        # before the bytes over it are read.
        async for frame in request.frames(limit):
            await invocation.take_body(source, frame)
    except PayloadTooLarge as too_large:
        # Lambda ends such a stream as failed; what came before the limit was delivered.
        message = f"Response payload size exceeded {too_large.limit} bytes"
        await invocation.end(error_object("Function.ResponseSizeTooLarge", message))
        raise ResponseTooLarge(message, too_large.limit) from None
    except (ConnectionError, asyncio.IncompleteReadError, BadRequest):
        # The function (or its process) went away mid-response, or framed it wrong: what
        # it sent still reaches the reader, then the invocation ends as failed.
        await invocation.end(error_object(EXIT_ERROR, "the response was cut off"))
        raise
    finally:
        invocation.body_released()
    await invocation.end(trailer_error(request.trailers), trailers=request.trailers)
    await responder.accepted()


async def error(responder: Responder, invocation: Invocation, request: Request) -> None:
    """The function failed (``/error``): its error object ends the invocation."""
    failure = function_error(await request.read(LAMBDA_MAX_REQUEST_BYTES), request.headers)
    invocation.start_response(None, request.headers, None)
    await invocation.end(failure)
    await responder.accepted()


async def init_error(responder: Responder, registry: Registry, request: Request) -> None:
    """The function could not start (``init/error``)."""
    body = await request.read(LAMBDA_MAX_REQUEST_BYTES)
    registry.init_failed(json_or_text(body), request.headers.get(ERROR_TYPE_HEADER))
    await responder.accepted()
