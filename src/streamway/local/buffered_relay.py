"""The BUFFERED relay: the function's whole proxy response is collected, then shaped into the
client's.

API Gateway's classic Lambda proxy rules:

- the integration timeout (29 s by default) -> 504 ``Endpoint request timed out``;
- a function error, or a response that is not a proxy response -> 502;
- a body over 10 MB -> 502 (Lambda's own 6 MB cap on a buffered payload is met first);
- ``multiValueHeaders`` merged over ``headers``;
- ``isBase64Encoded`` bodies are decoded only when the request's *first* ``Accept`` type
  matches a binary media type ("API Gateway uses the first Accept header from clients to
  determine if a response should return binary media", api-gateway-payload-encodings.html);
  otherwise the client gets the base64 text, as on AWS.

A function answering in the streaming format here (the wrong invoke mode) gets what the
support matrix says: "returns the HTTP headers and status code but not the response body".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Sequence
from typing import Any

from streamway.aws_contract import (
    API_GATEWAY_MAX_BUFFERED_RESPONSE_BYTES,
    LAMBDA_MAX_BUFFERED_RESPONSE_BYTES,
    PRELUDE_DELIMITER,
)
from streamway.local import gateway_responses as responses
from streamway.local.http1 import BodyBytes
from streamway.local.outcome import BufferedAnswer, GatewayAnswer
from streamway.local.response_head import merge_headers, prelude_response, status_code
from streamway.local.rest_event import is_binary
from streamway.local.runtime_api import Invocation, PreludeError, split_prelude


async def collect(
    invocation: Invocation,
    deadline: float,
    *,
    accept: str | None,
    binary_media_types: Sequence[str],
) -> BufferedAnswer | GatewayAnswer:
    """Waits for the function's answer until ``deadline`` (``time.perf_counter``, the end of
    the integration timeout) and shapes it, or says why API Gateway answers instead."""
    try:
        async with asyncio.timeout(max(deadline - time.perf_counter(), 0)):
            payload = await whole_payload(invocation)
    except TimeoutError:
        return GatewayAnswer(responses.INTEGRATION_TIMEOUT, "integration timeout")
    if payload is None:
        return GatewayAnswer(responses.BAD_GATEWAY, "the function's payload is over Lambda's 6 MB")
    if invocation.error is not None:
        reason = f"function error: {invocation.error.get('errorType')}"
        return GatewayAnswer(responses.BAD_GATEWAY, reason)
    try:
        if invocation.mode == "streaming" and PRELUDE_DELIMITER in payload:
            prelude, _ = split_prelude(payload)
            status, headers = prelude_response(prelude)
            return BufferedAnswer(status, _with_length(headers, b""), b"")
        return shape(json.loads(payload), accept, binary_media_types)
    except (ValueError, PreludeError) as error:
        return GatewayAnswer(responses.BAD_GATEWAY, f"malformed Lambda proxy response: {error}")
    except ResponseTooLarge:
        return GatewayAnswer(responses.BAD_GATEWAY, "the response body is over API Gateway's 10 MB")
    except BodyNotBase64:
        return GatewayAnswer(responses.INTERNAL_ERROR, "isBase64Encoded but the body is not base64")


async def whole_payload(invocation: Invocation) -> bytes | None:
    """The function's whole payload; None once it passes Lambda's cap (6 MB)."""
    parts: list[BodyBytes] = []
    size = 0
    async for chunk in invocation.chunks():
        size += len(chunk)
        if size > LAMBDA_MAX_BUFFERED_RESPONSE_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)


class ResponseTooLarge(Exception):
    """The body is over API Gateway's 10 MB (a 502)."""


class BodyNotBase64(Exception):
    """``isBase64Encoded`` with a body that does not decode (API_CONFIGURATION_ERROR, 500)."""


def shape(response: Any, accept: str | None, binary_media_types: Sequence[str]) -> BufferedAnswer:
    """The client's response from a proxy response object; ValueError if malformed."""
    if not isinstance(response, dict):
        raise ValueError("not a JSON object")
    status = status_code(response.get("statusCode"))
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError("body is not a string")
    text = (body or "").encode()
    data = text
    if response.get("isBase64Encoded") and is_binary(_first_accept(accept), binary_media_types):
        try:
            data = base64.b64decode(text, validate=True)
        except binascii.Error:
            raise BodyNotBase64() from None
    if len(data) > API_GATEWAY_MAX_BUFFERED_RESPONSE_BYTES:
        raise ResponseTooLarge()
    merged = merge_headers(response.get("headers"), response.get("multiValueHeaders"))
    pairs = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, values in merged.items()
        if name not in ("content-length", "transfer-encoding", "connection")
        for value in values
    ]
    return BufferedAnswer(status, _with_length(pairs, data), data)


def _with_length(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name != b"content-length"]
    return [*kept, (b"content-length", str(len(body)).encode())]


def _first_accept(accept: str | None) -> str | None:
    return accept.split(",", 1)[0] if accept else None
