"""What a runtime's bytes mean to the emulator: paths, modes, the prelude, error objects.

The values come from :mod:`streamway.aws_contract`; the reading is the emulator's own (not
``aws_lambda``'s), so that the emulator stays an independent check of streamway's runtime.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from streamway.aws_contract import (
    ERROR_BODY_TRAILER,
    ERROR_TYPE_HEADER,
    PRELUDE_DELIMITER,
    PRELUDE_MAX_BYTES,
    RESPONSE_MODE_HEADER,
    RESPONSE_MODE_STREAMING,
    error_object,
)
from streamway.local.http1 import BadRequest, PayloadTooLarge

API_PREFIX = "/2018-06-01/runtime"
#: RIE's path for invoking a function over HTTP; handy for curl and for callers in other processes.
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

#: How a function answered: a ``response`` in either mode (``/error`` has none).
Mode = Literal["buffered", "streaming"]


class SerializedEvent(bytes):
    """An event already in its JSON form: the function gets these bytes on ``next``. The
    caller that had to measure it (the gateway, against Lambda's 6 MB) or received it as
    JSON (the Lambda API, which passes a payload on as sent) does not serialize it twice."""


def event_bytes(event: Any) -> bytes:
    """An invocation's event as the function receives it."""
    if isinstance(event, SerializedEvent):
        return bytes(event)
    return json.dumps(event).encode()


#: The ``errorType`` of the emulator's own refusals, by status.
_REFUSALS = {
    400: "BadRequest",
    403: "AccessDeniedException",
    408: "RequestTimeout",
    413: "RequestTooLargeException",
    431: "RequestHeaderFieldsTooLarge",
    501: "NotImplemented",
}


class PreludeError(ValueError):
    """The stream did not start with a JSON prelude and 8 NUL bytes within 16 KB."""


class ResponseTooLarge(PayloadTooLarge):
    """A function's response over Lambda's cap (answered as ``Function.ResponseSizeTooLarge``)."""


def split_prelude(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A streamed HTTP integration response split into its prelude (a JSON object) and body."""
    index = data.find(PRELUDE_DELIMITER, 0, PRELUDE_MAX_BYTES + len(PRELUDE_DELIMITER))
    if index < 0:
        raise PreludeError("no 8-NUL delimiter within the first 16 KB of the stream")
    prelude = json.loads(data[:index]) if index else {}
    if not isinstance(prelude, dict):
        raise PreludeError("the prelude is not a JSON object")
    return prelude, data[index + len(PRELUDE_DELIMITER) :]


def response_mode(headers: dict[str, str]) -> Mode:
    """The mode of a ``response`` POST: ``streaming`` only when its header says so."""
    streaming = headers.get(RESPONSE_MODE_HEADER, "").lower() == RESPONSE_MODE_STREAMING
    return "streaming" if streaming else "buffered"


def trailer_error(trailers: dict[str, str]) -> dict[str, Any] | None:
    """The error a streamed response reported in its trailers (a mid-stream failure), if any."""
    if ERROR_TYPE_HEADER not in trailers:
        return None
    error = _decode_error_body(trailers.get(ERROR_BODY_TRAILER, ""))
    error.setdefault("errorType", trailers[ERROR_TYPE_HEADER])
    return error


def function_error(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """The error object of an ``/error`` POST: its JSON body, typed by its header if untyped."""
    error = json_or_text(body)
    if not isinstance(error, dict):
        error = {"errorMessage": str(error)}
    error.setdefault("errorType", headers.get(ERROR_TYPE_HEADER, "Unhandled"))
    return error


def refusal(error: BadRequest) -> dict[str, object]:
    """The Lambda-style error object that answers a refused request."""
    if isinstance(error, ResponseTooLarge):
        return error_object("Function.ResponseSizeTooLarge", str(error))
    if isinstance(error, PayloadTooLarge):
        return error_object(
            "RequestTooLargeException", f"Request must be smaller than {error.limit} bytes"
        )
    return error_object(_REFUSALS.get(error.status, "BadRequest"), str(error))


def caller_gone() -> dict[str, Any]:
    """How an invocation ends whose caller went away."""
    return error_object("Caller.Disconnected", "the caller went away")


def json_or_text(body: bytes) -> Any:
    """A body as JSON, or as text when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _decode_error_body(value: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return {"errorMessage": value}
    return decoded if isinstance(decoded, dict) else {"errorMessage": str(decoded)}
