"""``/ws``: AgentCore Runtime's bidirectional streaming, one conversation per connection.

Client to server, one JSON text message per prompt::

    {"prompt": "..."}

Server to client, per prompt::

    {"type": "delta", "text": "..."}            as the answer is generated
    {"type": "done", "stop_reason": ..., "usage": {...}, ...timings}
    {"type": "error", "code": ..., "message": ...}   instead of done, or for a bad message
    {"type": "cancelled"}                       the answer was cut short by a newer prompt

A new prompt while an answer is streaming **interrupts** it: the server stops the model,
sends ``{"type": "cancelled"}`` for the old answer and starts the new one (barge-in, as a
person talking over a voice assistant expects). Messages therefore never interleave: each
prompt's messages end with exactly one of done, error or cancelled.

The session id comes from the ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`` header or the
``session_id`` query parameter (AgentCore accepts either on the upgrade); with one, prompts
continue that session's conversation, as on ``/invocations``.

Either side may close at any time. A close or a vanished client stops the answer in
progress at once; the server closes with 1008 only for an unusable session id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import aclosing, suppress
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from streamway.agent.events import TextDelta
from streamway.agent.sessions import InvalidSessionId, SessionStore
from streamway.service.agentcore_protocol import (
    SESSION_HEADER,
    answer,
    delta_message,
    done_message,
)
from streamway.service.bodies import InvocationRequest, check_prompt_size, decode_json, parse_body
from streamway.service.errors import ApiError
from streamway.service.failures import model_refusal
from streamway.service.services import Services, ServicesDep

router = APIRouter()

log = logging.getLogger("streamway.ws")


class _Connection:
    def __init__(self, websocket: WebSocket, services: Services, session_id: str | None) -> None:
        self.websocket = websocket
        self.services = services
        self.session_id = session_id
        self.current: asyncio.Task[None] | None = None
        # Answers and the read loop (errors, cancelled) both send; frames must not interleave.
        self._send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.websocket.send_text(json.dumps(message, ensure_ascii=False))

    async def serve(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    raise WebSocketDisconnect(message.get("code", 1000))
                try:
                    prompt = self._prompt(message.get("text"))
                except ApiError as error:
                    await self.send(_error_message(error))
                    continue
                except Exception:
                    # A message the checks above missed must not drop the connection without
                    # a close code: say so (1011, internal error) and end it.
                    log.exception("could not read a message; closing the connection")
                    await self.websocket.close(code=1011, reason="internal error")
                    return
                await self._interrupt()
                self.current = asyncio.create_task(self._answer(prompt))
        except WebSocketDisconnect as closed:
            log.info("websocket closed by client", extra={"code": closed.code})
        finally:
            await self._interrupt(notify=False)

    def _prompt(self, text: str | None) -> str:
        if text is None:
            raise ApiError(
                400,
                "invalid_message",
                f"Send prompts as JSON text frames: {InvocationRequest.example}.",
            )
        body = parse_body(InvocationRequest, decode_json(text, InvocationRequest))
        check_prompt_size(body.prompt, self.services.max_prompt_chars)
        return body.prompt

    async def _interrupt(self, notify: bool = True) -> None:
        task, self.current = self.current, None
        if task is None or task.done():
            return
        log.info("stopping the answer in progress", extra={"notify_client": notify})
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        if notify:
            await self.send({"type": "cancelled"})

    async def _answer(self, prompt: str) -> None:
        started = time.perf_counter()
        first_token_at: float | None = None
        events = answer(self.services.runner, self.services.sessions, prompt, self.session_id)
        try:
            async with aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    first_token_at = first_token_at or time.perf_counter()
                    if isinstance(event, TextDelta):
                        await self.send(delta_message(event))
                    else:
                        timings: dict[str, float | None] = {
                            "time_to_first_token_ms": _ms(first_token_at - started),
                            "total_time_ms": _ms(time.perf_counter() - started),
                        }
                        await self.send(done_message(event, timings))
        except Exception as raw:
            if _is_gone(raw):
                # The read loop sees the disconnect too and ends the connection.
                return
            stage = "before the first token" if first_token_at is None else "mid-stream"
            with suppress(Exception):
                await self.send(_error_message(model_refusal(raw, stage)))


def _error_message(error: ApiError) -> dict[str, Any]:
    return {"type": "error", "code": error.code, "message": error.message, **error.details}


def _is_gone(error: BaseException) -> bool:
    # Starlette raises WebSocketDisconnect; uvicorn's ASGI send raises OSError.
    return isinstance(error, WebSocketDisconnect | OSError)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, services: ServicesDep) -> None:
    session_id = websocket.headers.get(SESSION_HEADER) or websocket.query_params.get("session_id")
    await websocket.accept()
    if session_id is not None:
        try:
            SessionStore.validate(session_id)
        except InvalidSessionId as error:
            await websocket.close(code=1008, reason=str(error)[:120])
            return
    # An open connection is a session at work: AgentCore must not reclaim it between prompts.
    with services.health.busy("websocket", kind="websocket"):
        await _Connection(websocket, services, session_id).serve()
