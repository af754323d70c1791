"""The JSON bodies the service reads: their models, and how a body becomes one.

A route that takes a body declares it as a parameter typed with its model and is registered
as a :class:`JsonBodyRoute`; FastAPI then validates the body and documents it in the OpenAPI
document. What this module adds is the error contract: a body that is not JSON is a 400
``invalid_json`` that says what to send, a field that is missing, empty or not a string is a
422 ``invalid_field`` naming it, and a body is read as JSON whatever its ``Content-Type``
says (``curl -d`` sends ``application/x-www-form-urlencoded``). ``/ws`` reads its messages
with the same models through :func:`decode_json` and :func:`parse_body`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.datastructures import Headers, MutableHeaders

from streamway.service.errors import ApiError

Prompt = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, min_length=1)]


class PromptRequest(BaseModel):
    """A JSON body carrying a prompt; ``example`` is what error messages tell a client to send."""

    model_config = ConfigDict(extra="ignore")

    example: ClassVar[str]


# No docstrings on the bodies: pydantic would publish them as the schemas' descriptions, and
# the schemas stay as api/openapi.yaml declares them.
class StreamingRequest(PromptRequest):
    example = '{"request": "<prompt>"}'

    request: Prompt = Field(
        description="The prompt for the agent.", json_schema_extra={"pattern": r"\S"}
    )


class InvocationRequest(PromptRequest):  # POST /invocations, and each prompt on /ws
    example = '{"prompt": "<prompt>"}'

    prompt: Prompt = Field(
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


def parse_body(model: type[Body], payload: object) -> Body:
    """``payload`` (decoded JSON) as ``model``, or the 422 :func:`invalid_field` describes."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise invalid_field(error.errors()[0], model) from None


def invalid_field(error: Mapping[str, Any], model: type[PromptRequest]) -> ApiError:
    """The 422 for pydantic's first error about a body: which field, what is wrong, what to send.

    FastAPI's errors locate the field under ``body``; the field is named without it, and an
    error about the body as a whole names ``body``.
    """
    field = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
    return ApiError(
        422,
        "invalid_field",
        f"`{field}` {_explain(error['type'], error['msg'])}; "
        f"send {model.example} with a non-empty string.",
        field=field,
    )


def _explain(kind: str, message: str) -> str:
    return {
        "missing": "is required",
        "string_type": "must be a string",
        "string_too_short": "must not be empty",
        "model_type": "must be inside a JSON object",
        # FastAPI validates bodies with from_attributes, which names the same error so.
        "model_attributes_type": "must be inside a JSON object",
    }.get(kind, message)


def check_prompt_size(prompt: str, limit_chars: int) -> None:
    """A 413 for a prompt longer than the service accepts (``STREAMWAY_MAX_PROMPT_CHARS``)."""
    if len(prompt) > limit_chars:
        raise ApiError(
            413,
            "prompt_too_long",
            f"The prompt has {len(prompt)} characters; the most this service accepts is "
            f"{limit_chars} (STREAMWAY_MAX_PROMPT_CHARS).",
            limit_chars=limit_chars,
        )


class JsonBodyRoute(APIRoute):
    """A route whose body, if it declares one, is a :class:`PromptRequest` read as JSON.

    The body is read and decoded here, before FastAPI's own body step, so that a body that is
    not JSON (an empty one included) is :func:`decode_json`'s 400 rather than FastAPI's 422,
    and a body over the size limit is the middleware's 413 rather than FastAPI's 400. FastAPI
    then validates the decoded JSON against the model; its validation error becomes
    :func:`invalid_field`'s 422. Routes without a body are left as they are.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        model = self.body_field.field_info.annotation
        if not (isinstance(model, type) and issubclass(model, PromptRequest)):
            raise TypeError(f"{self.path}: a body must be a PromptRequest, not {model!r}")

        async def read_json_body(request: Request) -> Response:
            body = await request.body()
            payload = decode_json(body, model)
            try:
                return await handler(_DecodedJsonRequest(request, body, payload))
            except RequestValidationError as error:
                first = error.errors()[0]
                if first["loc"][:1] != ("body",):
                    raise
                raise invalid_field(first, model) from None

        return read_json_body


class _DecodedJsonRequest(Request):
    """The request as FastAPI's body step and the endpoint see it: its body decoded already."""

    def __init__(self, request: Request, body: bytes, payload: object) -> None:
        super().__init__(request.scope, request.receive)
        self._body = body
        self._json = payload

    @property
    def headers(self) -> Headers:
        # FastAPI decodes a body only under a JSON Content-Type (else it validates the bytes);
        # every body these routes read is JSON, so it is told so.
        headers = MutableHeaders(raw=list(super().headers.raw))
        headers["content-type"] = "application/json"
        return headers
