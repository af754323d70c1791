"""``POST /streaming``: ``{"request": "..."}`` in, the agent's answer out as it is generated.

``text/plain`` by default (what ``curl -N`` shows word by word); ``Accept: text/event-stream``
gets the same answer as SSE: ``data: {"text": ...}`` events, then ``event: done`` with usage
and timings, or ``event: error`` if the model fails mid-answer.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from streamway.service.answer_encoders import (
    PlainTextEncoder,
    ServerSentEventsEncoder,
    StreamEncoder,
)
from streamway.service.answer_response import AgentStreamResponse
from streamway.service.bodies import JsonBodyRoute, StreamingRequest, check_prompt_size
from streamway.service.errors import error_responses
from streamway.service.services import ServicesDep

router = APIRouter(route_class=JsonBodyRoute)


def encoder_for(request: Request) -> StreamEncoder:
    if "text/event-stream" in request.headers.get("accept", ""):
        return ServerSentEventsEncoder()
    return PlainTextEncoder()


@router.post(
    "/streaming",
    summary="Stream the agent's answer to a prompt",
    response_class=Response,
    responses={
        200: {
            "description": "The answer as it is generated: plain text, or SSE when asked",
            "content": {"text/plain": {}, "text/event-stream": {}},
        },
        **error_responses(400, 413, 422, 431, 502, 503),
    },
)
async def streaming(
    body: StreamingRequest, request: Request, services: ServicesDep
) -> AgentStreamResponse:
    started = time.perf_counter()
    check_prompt_size(body.request, services.max_prompt_chars)
    events = services.runner.stream(body.request)
    return AgentStreamResponse(
        events, encoder_for(request), started=started, heartbeat_s=services.sse_heartbeat_s
    )
