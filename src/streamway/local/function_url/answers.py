"""What a function URL answers itself, and how it reads a BUFFERED function's payload.

Lambda's own answers (no function output reaches the client):

- a function error, a payload that is not a response, a response too large: ``502`` with
  the text ``Internal Server Error``;
- ``AWS_IAM`` without a well-formed signature: ``403`` ``{"Message":"Forbidden"}`` with
  ``x-amzn-ErrorType: AccessDeniedException``;
- a request payload over 6 MB: ``413`` ``RequestTooLargeException``;
- every sandbox busy at the concurrency limit: ``429`` ``TooManyRequestsException``.

A BUFFERED payload (payload format 2.0's response): a JSON object with ``statusCode`` is a
response (``headers``, ``cookies``, ``body``, ``isBase64Encoded``); any other JSON is the
body of a ``200`` with ``Content-Type: application/json`` (a JSON string's text itself);
anything else is a 502.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from streamway.aws_contract import LAMBDA_MAX_REQUEST_BYTES
from streamway.local.response_head import prelude_response

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Answer:
    """A whole response: Lambda's own, or a BUFFERED function's."""

    status: int
    headers: Headers
    body: bytes
    #: Why, for the log; None when nothing went wrong.
    reason: str | None = None


def bad_gateway(reason: str) -> Answer:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    return Answer(502, headers, b"Internal Server Error", reason)


def _service_error(status: int, error_type: str, message: str, reason: str) -> Answer:
    headers = [(b"content-type", b"application/json"), (b"x-amzn-errortype", error_type.encode())]
    body = json.dumps({"Message": message}, separators=(",", ":")).encode()
    return Answer(status, headers, body, reason)


def forbidden(reason: str) -> Answer:
    return _service_error(403, "AccessDeniedException", "Forbidden", reason)


def too_large(size: int | None = None) -> Answer:
    message = (
        f"Request must be smaller than {LAMBDA_MAX_REQUEST_BYTES} bytes for the "
        "InvokeFunction operation"
    )
    reason = f"{size} byte payload" if size is not None else "the request body is over 6 MB"
    return _service_error(413, "RequestTooLargeException", message, reason)


def throttled() -> Answer:
    return _service_error(
        429, "TooManyRequestsException", "Rate Exceeded.", "every sandbox is busy (concurrency)"
    )


def timed_out() -> Answer:
    return _service_error(408, "RequestTimeoutException", "Request Timeout", "the body stalled")


def buffered_answer(payload: bytes) -> Answer:
    """The client's response from a BUFFERED function's payload."""
    try:
        result: Any = json.loads(payload)
    except ValueError:
        return bad_gateway("the function's payload is not JSON")
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else payload.decode("utf-8")
        return Answer(200, [(b"content-type", b"application/json")], text.encode())
    try:
        return _response(result)
    except (ValueError, binascii.Error) as error:
        return bad_gateway(f"malformed function URL response: {error}")


def _response(result: dict[str, Any]) -> Answer:
    """A 2.0 response object; ValueError when Lambda would refuse it."""
    # 2.0 has no multiValueHeaders: only headers (comma-joined values) and cookies count.
    head = {key: result.get(key) for key in ("statusCode", "headers", "cookies")}
    status, headers = prelude_response(head)
    body = result.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        encoded = result.get("isBase64Encoded")
        data = base64.b64decode(body, validate=True) if encoded else body.encode()
    else:
        raise ValueError("body is not a string")
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    return Answer(status, headers, data)
