"""``POST /streaming``: ``{"request": "..."}`` in, the agent's answer out as it is generated.

``text/plain`` by default (what ``curl -N`` shows word by word); ``Accept: text/event-stream``
gets the same answer as SSE: ``data: {"text": ...}`` events, then ``event: done`` with usage
and timings, or ``event: error`` if the model fails mid-answer.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, TypeVar

import pydantic_core
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from streamway.agent.runner import AgentRunner
from streamway.config import ModelSettings, Settings
from streamway.service.agent_stream import (
    AgentStreamResponse,
    PlainTextEncoder,
    ServerSentEventsEncoder,
    StreamEncoder,
)
from streamway.service.errors import ApiError, error_responses

router = APIRouter()

Prompt = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class PromptRequest(BaseModel):
    """A JSON body carrying a prompt; ``example`` is what error messages tell a client to send."""

    model_config = ConfigDict(extra="ignore")

    example: ClassVar[str]


class StreamingRequest(PromptRequest):
    example = '{"request": "<prompt>"}'

    request: Prompt = Field(
        description="The prompt for the agent.", json_schema_extra={"pattern": r"\S"}
    )


Body = TypeVar("Body", bound=PromptRequest)


def decode_json(body: bytes | str, model: type[PromptRequest]) -> object:
    """``body`` as JSON, or a 400 that says what was wrong with it and what to send.

    Parsed by pydantic's JSON parser (jiter) rather than :func:`json.loads`, because valid
    JSON can still be hostile and jiter refuses it as invalid, in one linear pass: nesting
    past its recursion limit (about 250 levels), which ``json.loads`` meets as a
    ``RecursionError``; integers too long for ``int()`` (4300 digits), a ``ValueError``
    there; lone surrogates (``"\\ud800"``), which no UTF-8 encoder downstream accepts; and
    ``NaN`` or ``Infinity``, which are not JSON.
    """
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise ApiError(
            400,
            "invalid_json",
            f"The request body is not valid JSON ({error}); send {model.example}.",
        ) from None


async def read_json(request: Request, model: type[PromptRequest] = StreamingRequest) -> object:
    return decode_json(await request.body(), model)


def parse_body(model: type[Body], payload: object) -> Body:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(
            422,
            "invalid_field",
            f"`{field}` {_explain(first['type'], first['msg'])}; "
            f"send {model.example} with a non-empty string.",
            field=field,
        ) from None


def _explain(kind: str, message: str) -> str:
    return {
        "missing": "is required",
        "string_type": "must be a string",
        "string_too_short": "must not be empty",
        "model_type": "must be inside a JSON object",
    }.get(kind, message)


def json_request_body(model: type[PromptRequest]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads ``model`` with :func:`read_json`.

    The routes read the body themselves (so that malformed JSON is a 400 that says what to
    send, not FastAPI's 422), which leaves FastAPI nothing to document: this says it.
    """
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def encoder_for(request: Request) -> StreamEncoder:
    if "text/event-stream" in request.headers.get("accept", ""):
        return ServerSentEventsEncoder()
    return PlainTextEncoder()


def check_prompt_size(prompt: str, settings: ModelSettings) -> None:
    if len(prompt) > settings.max_prompt_chars:
        raise ApiError(
            413,
            "prompt_too_long",
            f"The prompt has {len(prompt)} characters; the most this service accepts is "
            f"{settings.max_prompt_chars} (STREAMWAY_MAX_PROMPT_CHARS).",
            limit_chars=settings.max_prompt_chars,
        )


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
    openapi_extra=json_request_body(StreamingRequest),
)
async def streaming(request: Request) -> AgentStreamResponse:
    started = time.perf_counter()
    settings: Settings = request.app.state.settings
    runner: AgentRunner = request.app.state.agent_runner
    body = parse_body(StreamingRequest, await read_json(request))
    check_prompt_size(body.request, settings.model)
    return AgentStreamResponse(runner.stream(body.request), encoder_for(request), started=started)
