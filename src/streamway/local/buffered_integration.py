"""A BUFFERED integration: the function's whole proxy response, then the client's.

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
from dataclasses import dataclass
from typing import Any

from streamway.aws_contract import PRELUDE_DELIMITER
from streamway.local import gateway_responses as responses
from streamway.local.exchange import Exchange
from streamway.local.gateway_responses import GatewayResponse
from streamway.local.http1 import BodyBytes
from streamway.local.rest_event import is_binary
from streamway.local.runtime_api import Invocation, PreludeError, split_prelude
from streamway.local.stream_integration import merge_headers, prelude_response, status_code

#: API Gateway's response payload limit for BUFFERED integrations.
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
#: Lambda's ``Invoke`` payload cap, which also bounds what is collected here.
_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class BufferedAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


async def collect(
    invocation: Invocation,
    exchange: Exchange,
    timeout_s: float,
    *,
    accept: str | None,
    binary_media_types: Sequence[str],
) -> BufferedAnswer | GatewayResponse:
    """Waits for the function's answer within the integration timeout and shapes it."""
    parts: list[BodyBytes] = []
    size = 0
    remaining = exchange.started + timeout_s - time.perf_counter()
    try:
        async with asyncio.timeout(max(remaining, 0)):
            async for chunk in invocation.chunks():
                size += len(chunk)
                if size > _MAX_PAYLOAD_BYTES:
                    exchange.error = "the function's payload is over Lambda's 6 MB"
                    return responses.BAD_GATEWAY
                parts.append(chunk)
    except TimeoutError:
        exchange.error = "integration timeout"
        return responses.INTEGRATION_TIMEOUT
    if invocation.error is not None:
        exchange.error = f"function error: {invocation.error.get('errorType')}"
        return responses.BAD_GATEWAY
    payload = b"".join(parts)
    try:
        if invocation.mode == "streaming" and PRELUDE_DELIMITER in payload:
            prelude, _ = split_prelude(payload)
            status, headers = prelude_response(prelude)
            return BufferedAnswer(status, _with_length(headers, b""), b"")
        return shape(json.loads(payload), accept, binary_media_types)
    except (ValueError, PreludeError) as error:
        exchange.error = f"malformed Lambda proxy response: {error}"
        return responses.BAD_GATEWAY
    except ResponseTooLarge:
        exchange.error = "the response body is over API Gateway's 10 MB"
        return responses.BAD_GATEWAY
    except BodyNotBase64:
        exchange.error = "isBase64Encoded but the body is not base64"
        return responses.INTERNAL_ERROR


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
    if len(data) > MAX_RESPONSE_BYTES:
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
