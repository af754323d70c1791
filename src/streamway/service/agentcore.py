"""The Bedrock AgentCore Runtime HTTP contract: ``POST /invocations`` and ``GET /ping``.

``/invocations`` takes ``{"prompt": "..."}``. With ``Accept: text/event-stream`` the answer
streams framed exactly as the bedrock-agentcore SDK frames an entrypoint's generator (one
``data: <json>\\n\\n`` per event, no ``event:`` lines), but the events are streamway's own
JSON-safe ones rather than Strands' raw events:

    data: {"type": "delta", "text": "Hel"}
    data: {"type": "done", "stop_reason": "end_turn", "usage": {...}, ...timings}

A failure mid-stream ends it with the SDK's error event,
``data: {"error": "...", "error_type": "...", "message": "An error occurred during streaming"}``.
With ``Accept: application/json`` the answer is one object, ``{"result": "<whole answer>",
"stop_reason": ..., "usage": ...}``. Failures before anything was sent are streamway's JSON
errors with a fitting status (see errors.py).

The ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`` header continues a conversation (see
agent/sessions.py). ``/ws`` lives in agentcore_ws.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from streamway.agent.events import AgentEvent, Finished, TextDelta
from streamway.agent.runner import AgentRunner
from streamway.agent.sessions import InvalidSessionId, SessionBusy, SessionStore, TooManySessions
from streamway.config import Settings
from streamway.service.agent_stream import (
    AgentAnswerResponse,
    AgentStreamResponse,
    StreamEncoder,
    sse_event,
)
from streamway.service.errors import ApiError, error_responses
from streamway.service.streaming import (
    Prompt,
    PromptRequest,
    check_prompt_size,
    json_request_body,
    parse_body,
    read_json,
)

router = APIRouter()

SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"


class InvocationRequest(PromptRequest):
    example = '{"prompt": "<prompt>"}'

    prompt: Prompt = Field(
        description="The prompt for the agent.", json_schema_extra={"pattern": r"\S"}
    )


class AgentCoreEncoder(StreamEncoder):
    """SSE as the bedrock-agentcore SDK writes it, carrying streamway's JSON-safe events."""

    # What Starlette's StreamingResponse(media_type="text/event-stream") sends in the SDK.
    media_type = "text/event-stream; charset=utf-8"

    def text(self, delta: TextDelta) -> bytes:
        return sse_event(delta_message(delta))

    def finished(self, event: Finished, timings: dict[str, float | None]) -> bytes:
        return sse_event(done_message(event, timings))

    def error(self, error: BaseException) -> bytes:
        return sse_event(
            {
                "error": str(error),
                "error_type": type(error).__name__,
                "message": "An error occurred during streaming",
            }
        )


def delta_message(delta: TextDelta) -> dict[str, Any]:
    return {"type": "delta", "text": delta.text}


def done_message(event: Finished, timings: dict[str, float | None]) -> dict[str, Any]:
    return {
        "type": "done",
        "stop_reason": event.stop_reason,
        "usage": event.usage.to_json(),
        **timings,
    }


def whole_answer(text: str, event: Finished, timings: dict[str, float | None]) -> dict[str, Any]:
    return {
        "result": text,
        "stop_reason": event.stop_reason,
        "usage": event.usage.to_json(),
        **timings,
    }


async def answer(
    runner: AgentRunner, sessions: SessionStore, prompt: str, session_id: str | None
) -> AsyncIterator[AgentEvent]:
    """The answer's events, continuing ``session_id``'s conversation when one is given.

    Session refusals surface as :class:`ApiError` before the first event. The order matters:
    an invalid or busy session is refused at once (that changes nothing), then the request
    waits for a generation slot, and only then is the session acquired, which may create it
    and evict the least recently used idle one. A request refused as busy (503) therefore
    never costs another client their conversation.
    """
    if session_id is None:
        async for event in runner.stream(prompt):
            yield event
        return
    with _session_refusals():
        sessions.check(session_id)
    with _session_refusals():  # acquire's refusals come before the first event
        async for event in runner.stream(prompt, lambda: sessions.acquire(session_id)):
            yield event


@contextmanager
def _session_refusals() -> Iterator[None]:
    try:
        yield
    except InvalidSessionId as error:
        raise ApiError(400, "invalid_session_id", str(error)) from None
    except SessionBusy as error:
        raise ApiError(409, "session_busy", str(error)) from None
    except TooManySessions as error:
        raise ApiError(503, "too_many_sessions", str(error), headers={"retry-after": "1"}) from None


def response_mode(request: Request, default: Literal["sse", "json"]) -> Literal["sse", "json"]:
    accept = request.headers.get("accept", "")
    if "text/event-stream" in accept:
        return "sse"
    if "application/json" in accept:
        return "json"
    return default


class PingStatus:
    """``/ping``'s body: HealthyBusy while any answer is generating or waiting for a slot.

    As in the SDK, ``time_of_last_update`` is when the status last changed, not when it was
    asked for.
    """

    def __init__(self) -> None:
        self.status = "Healthy"
        self.changed_at = int(time.time())

    def body(self, busy: bool) -> dict[str, Any]:
        status = "HealthyBusy" if busy else "Healthy"
        if status != self.status:
            self.status, self.changed_at = status, int(time.time())
        return {"status": self.status, "time_of_last_update": self.changed_at}


@router.post(
    "/invocations",
    summary="AgentCore Runtime: answer a prompt as SSE or as one JSON object",
    response_class=Response,
    responses={
        200: {
            "description": "SSE events as the answer is generated, or the whole answer",
            "content": {"text/event-stream": {}, "application/json": {}},
        },
        **error_responses(400, 409, 413, 422, 431, 502, 503),
    },
    openapi_extra=json_request_body(InvocationRequest),
)
async def invocations(request: Request) -> Response:
    started = time.perf_counter()
    settings: Settings = request.app.state.settings
    body = parse_body(InvocationRequest, await read_json(request, InvocationRequest))
    check_prompt_size(body.prompt, settings.model)
    events = answer(
        request.app.state.agent_runner,
        request.app.state.sessions,
        body.prompt,
        request.headers.get(SESSION_HEADER),
    )
    if response_mode(request, settings.agentcore.invocations_default_response) == "sse":
        return AgentStreamResponse(events, AgentCoreEncoder(), started=started)
    return AgentAnswerResponse(events, whole_answer, started=started)


@router.get("/ping", summary="AgentCore Runtime health: Healthy or HealthyBusy")
async def ping(request: Request) -> dict[str, Any]:
    runner: AgentRunner = request.app.state.agent_runner
    sessions: SessionStore = request.app.state.sessions
    sessions.expire()
    body: dict[str, Any] = request.app.state.ping_status.body(runner.admission.busy)
    return body
