"""Your own agent behind streamway's AgentCore contract: ``STREAMWAY_AGENTCORE_ENTRYPOINT``.

``module:function`` replaces streamway's agent on ``POST /invocations`` (``/ping`` and
``/ws`` stay). As the bedrock-agentcore SDK's ``@app.entrypoint``, the function takes the
request's JSON payload, and an :class:`InvocationContext` if it has a second parameter:

- a generator (async or not, or a function returning one) streams: each value is one SSE
  event, JSON-safe, or the :class:`~streamway.service.sse.SseEvent` the function framed
  itself (sse.py); a failure after the first event ends the stream with the SDK's error
  event;
- anything else (awaited if it is a coroutine) is the JSON answer; a Starlette ``Response``
  is sent as it is.

``/ping`` says HealthyBusy while an invocation runs (agentcore_health.py).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamway.http.disconnect import ClientGone, send_or_gone, until_disconnect
from streamway.service.agentcore_health import RuntimeHealth
from streamway.service.agentcore_protocol import SESSION_HEADER, stream_error_message
from streamway.service.bodies import InvocationRequest, decode_json
from streamway.service.errors import error_responses
from streamway.service.heartbeat import Heartbeat, with_heartbeats
from streamway.service.services import Entrypoint, ServicesDep
from streamway.service.sse import SseStream, to_json

log = logging.getLogger("streamway.agentcore")

router = APIRouter()


@dataclass(frozen=True)
class InvocationContext:
    """What an entrypoint may want of the request besides its payload."""

    session_id: str | None
    request_id: str | None
    headers: Mapping[str, str]


def load_entrypoint(spec: str) -> Entrypoint:
    """The function ``module:function`` names; ValueError says what is wrong."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"STREAMWAY_AGENTCORE_ENTRYPOINT={spec!r}: write it as module:function")
    function = getattr(importlib.import_module(module_name), name, None)
    if not callable(function):
        raise ValueError(f"STREAMWAY_AGENTCORE_ENTRYPOINT={spec!r}: no function {name} there")
    return function  # type: ignore[no-any-return]


@router.post(
    "/invocations",
    summary="AgentCore Runtime: the configured entrypoint's answer, streamed or whole",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}, "application/json": {}}},
        **error_responses(400),
    },
)
async def invocations(request: Request, services: ServicesDep) -> Response:
    entrypoint = services.entrypoint
    assert entrypoint is not None  # this router is mounted only with one
    payload = decode_json(await request.body(), InvocationRequest)
    context = InvocationContext(
        request.headers.get(SESSION_HEADER),
        request.headers.get("x-amzn-bedrock-agentcore-runtime-request-id"),
        dict(request.headers),
    )
    takes_context = len(inspect.signature(entrypoint).parameters) >= 2
    arguments = (payload, context) if takes_context else (payload,)
    if inspect.isasyncgenfunction(entrypoint) or inspect.isgeneratorfunction(entrypoint):
        result = entrypoint(*arguments)
    else:
        with services.health.busy("invocation", kind="invocation"):
            if inspect.iscoroutinefunction(entrypoint):
                result = await entrypoint(*arguments)
            else:  # the SDK runs plain functions off the event loop too
                result = await asyncio.to_thread(entrypoint, *arguments)
    if inspect.isasyncgen(result):
        return EventStream(result, services.health, services.sse_heartbeat_s)
    if inspect.isgenerator(result):
        return EventStream(iterate_in_threadpool(result), services.health, services.sse_heartbeat_s)
    if isinstance(result, Response):
        return result
    return Response(to_json(result), media_type="application/json")


class EventStream(Response):
    """An entrypoint's values as SSE, sent as produced, with a comment line after each
    ``heartbeat_s`` of silence; the client leaving closes them."""

    media_type = "text/event-stream; charset=utf-8"

    def __init__(
        self, events: AsyncIterator[Any], health: RuntimeHealth, heartbeat_s: float = 0.0
    ) -> None:
        # Response.__init__ is skipped on purpose: there is no body to render up front.
        self.events = events
        self.health = health
        self.heartbeat_s = heartbeat_s
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self.health.busy("invocation", kind="invocation"):
            try:
                await until_disconnect(self._stream(send), receive)
            except ClientGone:
                log.info("client disconnected; entrypoint's stream closed")

    async def _stream(self, send: Send) -> None:
        headers = [(b"content-type", self.media_type.encode())]
        await send_or_gone(send, {"type": "http.response.start", "status": 200, "headers": headers})
        stream = SseStream()
        async with aclosing(with_heartbeats(self.events, self.heartbeat_s)) as events:
            try:
                async for value in events:
                    body = stream.comment() if isinstance(value, Heartbeat) else stream.event(value)
                    if body:
                        await send_or_gone(
                            send, {"type": "http.response.body", "body": body, "more_body": True}
                        )
            except ClientGone:
                raise
            except Exception as error:
                log.exception("the entrypoint failed mid-stream")
                body = stream.event(stream_error_message(error))
                await send_or_gone(
                    send, {"type": "http.response.body", "body": body, "more_body": True}
                )
        await send_or_gone(send, {"type": "http.response.body", "body": b""})
