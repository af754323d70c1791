"""The Bedrock AgentCore Runtime HTTP contract: ``POST /invocations`` and ``GET /ping``.

``/invocations`` takes ``{"prompt": "..."}``. With ``Accept: text/event-stream`` the answer
streams framed as the bedrock-agentcore SDK frames an entrypoint's generator (one
``data: <json>`` line per event, no ``event:`` lines), each event numbered by an ``id:`` line
before it and the first led by ``retry:`` (which any SSE client reads past), and the events
are streamway's own JSON-safe ones rather than Strands' raw events:

    retry: 3000
    id: 1
    data: {"type": "delta", "text": "Hel"}

    id: 2
    data: {"type": "done", "stop_reason": "end_turn", "usage": {...}, ...timings}

A failure mid-stream ends it with the SDK's error event,
``data: {"error": "...", "error_type": "...", "message": "An error occurred during streaming"}``.
With ``Accept: application/json`` the answer is one object, ``{"result": "<whole answer>",
"stop_reason": ..., "usage": ...}``. Failures before anything was sent are streamway's JSON
errors with a fitting status (see errors.py).

The ``X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`` header continues a conversation (see
agent/sessions.py). An SSE answer is resumable (``STREAMWAY_RESUME_GRACE`` > 0): a client
whose connection broke sends the same request again with the same session header and
``Last-Event-ID``, and gets the events after that id and then the live rest of that session's
answer, instead of a new answer (docs/streaming.md#resume). ``/ws`` lives in
agentcore_ws.py; what the two share, in agentcore_protocol.py.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from streamway.agent.events import Finished, TextDelta
from streamway.service.agentcore_protocol import (
    SESSION_HEADER,
    answer,
    delta_message,
    done_message,
    stream_error_message,
)
from streamway.service.answer_encoders import SseEncoder
from streamway.service.answer_response import AgentAnswerResponse, AgentStreamResponse
from streamway.service.bodies import InvocationRequest, JsonBodyRoute, check_prompt_size
from streamway.service.errors import ApiError, error_responses
from streamway.service.resumable_response import StreamReader, open_stream, resume
from streamway.service.services import ServicesDep

router = APIRouter(route_class=JsonBodyRoute)
#: /ping, served whoever answers /invocations (streamway's agent or an entrypoint).
health_router = APIRouter()


class AgentCoreEncoder(SseEncoder):
    """SSE as the bedrock-agentcore SDK writes it, carrying streamway's JSON-safe events,
    with their ids."""

    def text(self, delta: TextDelta) -> bytes:
        return self.event(delta_message(delta))

    def finished(self, event: Finished, timings: dict[str, float | None]) -> bytes:
        return self.event(done_message(event, timings))

    def error(self, error: BaseException) -> bytes:
        return self.event(stream_error_message(error))


def whole_answer(text: str, event: Finished, timings: dict[str, float | None]) -> dict[str, Any]:
    return {
        "result": text,
        "stop_reason": event.stop_reason,
        "usage": event.usage.to_json(),
        **timings,
    }


def response_mode(request: Request, default: Literal["sse", "json"]) -> Literal["sse", "json"]:
    accept = request.headers.get("accept", "")
    if "text/event-stream" in accept:
        return "sse"
    if "application/json" in accept:
        return "json"
    return default


@router.post(
    "/invocations",
    summary="AgentCore Runtime: answer a prompt as SSE or as one JSON object",
    response_class=Response,
    responses={
        200: {
            "description": "SSE events as the answer is generated, or the whole answer",
            "content": {"text/event-stream": {}, "application/json": {}},
        },
        **error_responses(400, 404, 409, 410, 413, 422, 431, 502, 503),
    },
)
async def invocations(body: InvocationRequest, request: Request, services: ServicesDep) -> Response:
    started = time.perf_counter()
    check_prompt_size(body.prompt, services.max_prompt_chars)
    session_id = request.headers.get(SESSION_HEADER)
    sse = response_mode(request, services.invocations_default_response) == "sse"
    if sse and services.streams.enabled:
        last_event_id = request.headers.get("last-event-id")
        if last_event_id is not None:
            if session_id is None:
                raise ApiError(
                    400,
                    "bad_last_event_id",
                    f"Last-Event-ID resumes a session's answer: it needs the {SESSION_HEADER} "
                    "header of the session.",
                )
            stream = services.streams.of_session(session_id)
            return resume(stream, last_event_id, services.sse_heartbeat_s)
        stream = services.streams.open(session_id)
        events = answer(services.runner, services.sessions, body.prompt, session_id)
        open_stream(stream, events, AgentCoreEncoder())
        return StreamReader(stream, first=True, heartbeat_s=services.sse_heartbeat_s)
    events = answer(services.runner, services.sessions, body.prompt, session_id)
    if sse:
        return AgentStreamResponse(
            events, AgentCoreEncoder(), started=started, heartbeat_s=services.sse_heartbeat_s
        )
    return AgentAnswerResponse(events, whole_answer, started=started)


@health_router.get("/ping", summary="AgentCore Runtime health: Healthy or HealthyBusy")
async def ping(services: ServicesDep) -> dict[str, Any]:
    services.sessions.expire()
    return services.health.body()
