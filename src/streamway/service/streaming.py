"""``POST /streaming``: ``{"request": "..."}`` in, the agent's answer out as it is generated.

``text/plain`` by default (what ``curl -N`` shows word by word); ``Accept: text/event-stream``
gets the same answer as SSE: ``data: {"text": ...}`` events, then ``event: done`` with usage
and timings, or ``event: error`` if the model fails mid-answer.

An SSE answer is resumable (``STREAMWAY_RESUME_GRACE`` > 0, docs/streaming.md#resume): its
response names its stream in ``Streamway-Stream-Id``; ``GET /streaming/{stream_id}`` with
``Last-Event-ID`` (or ``?last_event_id=``) sends the events after that id and then the live
rest, and ``DELETE /streaming/{stream_id}`` stops it at once.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.responses import Response as PlainResponse

from streamway.service.answer_encoders import (
    PlainTextEncoder,
    ServerSentEventsEncoder,
    StreamEncoder,
)
from streamway.service.answer_response import AgentStreamResponse
from streamway.service.bodies import JsonBodyRoute, StreamingRequest, check_prompt_size
from streamway.service.errors import ApiError, error_responses
from streamway.service.resumable_response import (
    STREAM_ID_HEADER,
    StreamReader,
    open_stream,
    resume,
)
from streamway.service.services import ServicesDep

router = APIRouter(route_class=JsonBodyRoute)

#: What the resume routes document, besides the answer itself.
_SSE_ANSWER = {
    "description": "The events after Last-Event-ID, then the live rest of the answer",
    "content": {"text/event-stream": {}},
}


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
            "description": "The answer as it is generated: plain text, or SSE when asked "
            "(then, with resume on, its stream id in the Streamway-Stream-Id header)",
            "content": {"text/plain": {}, "text/event-stream": {}},
        },
        **error_responses(400, 413, 422, 431, 502, 503),
    },
)
async def streaming(body: StreamingRequest, request: Request, services: ServicesDep) -> Response:
    started = time.perf_counter()
    check_prompt_size(body.request, services.max_prompt_chars)
    events = services.runner.stream(body.request)
    encoder = encoder_for(request)
    if services.streams.enabled and isinstance(encoder, ServerSentEventsEncoder):
        stream = services.streams.open()
        open_stream(stream, events, encoder)
        return StreamReader(stream, first=True, heartbeat_s=services.sse_heartbeat_s)
    return AgentStreamResponse(
        events, encoder, started=started, heartbeat_s=services.sse_heartbeat_s
    )


@router.get(
    "/streaming/{stream_id}",
    summary="Resume an SSE answer after the last event the client got",
    response_class=Response,
    # 422 is never sent (the parameters are strings); declared, FastAPI documents the
    # service's error shape rather than its own validation error (as every route here).
    responses={200: _SSE_ANSWER, **error_responses(400, 404, 410, 422)},
)
async def resume_streaming(
    stream_id: str, request: Request, services: ServicesDep, last_event_id: str | None = None
) -> StreamReader:
    # The header, as EventSource sends it, wins over the query, for clients without one.
    last = request.headers.get("last-event-id", last_event_id)
    return resume(services.streams.of_id(stream_id), last, services.sse_heartbeat_s)


@router.delete(
    "/streaming/{stream_id}",
    summary="Stop an SSE answer now, rather than after the resume grace",
    status_code=204,
    response_class=PlainResponse,
    responses={204: {"description": "Stopped"}, **error_responses(404, 422)},
)
async def stop_streaming(stream_id: str, services: ServicesDep) -> PlainResponse:
    stream = services.streams.of_id(stream_id)
    if stream is None:
        raise ApiError(404, "stream_not_found", "No answer with this stream id is held here.")
    services.streams.delete(stream)
    return PlainResponse(status_code=204, headers={STREAM_ID_HEADER: stream_id})
