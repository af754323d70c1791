"""The Lambda service's own refusals (before any function runs), as boto3 reads them.

A refusal is a status, ``x-amzn-ErrorType`` naming the exception and a JSON body with
``Type`` and ``message``: botocore's REST-JSON parser takes the code from the header and the
message from the body, and raises the client's exception class of that name
(``client.exceptions.ResourceNotFoundException``...).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from streamway.aws_contract import LAMBDA_MAX_REQUEST_BYTES

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Send


class LambdaApiError(Exception):
    """One of the service's answers to a request it will not run."""

    def __init__(
        self, status: int, code: str, message: str, *, error_type: str = "User", **extra: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error_type = error_type
        self.extra = extra

    def body(self) -> bytes:
        return json.dumps({"Type": self.error_type, "message": self.message, **self.extra}).encode()

    async def send(self, send: Send, request_id: str) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amzn-errortype", self.code.encode()),
        ]
        await send_whole(send, self.status, headers, self.body())


async def send_whole(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Sends a whole response: ``headers`` plus its Content-Length, then ``body``."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def function_not_found(arn: str) -> LambdaApiError:
    return LambdaApiError(404, "ResourceNotFoundException", f"Function not found: {arn}")


def invalid_parameter(message: str) -> LambdaApiError:
    return LambdaApiError(400, "InvalidParameterValueException", message)


def invalid_content(message: str) -> LambdaApiError:
    return LambdaApiError(
        400, "InvalidRequestContentException", f"Could not parse request body into json: {message}"
    )


def invalid_enum(parameter: str, value: str, allowed: tuple[str, ...]) -> LambdaApiError:
    """A header outside its enum (``X-Amz-Invocation-Type``, ``X-Amz-Log-Type``): the
    service's input validation answers, before the function is looked at."""
    return LambdaApiError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{parameter}' failed to satisfy "
        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]",
    )


# A payload past the limit is refused by Lambda's front end as RequestEntityTooLargeException
# (seen in AWS's answers), not the RequestTooLargeException its API reference lists: boto3
# has no class for that code and raises a ClientError, as against AWS.
_ENTITY_TOO_LARGE = "RequestEntityTooLargeException"


def request_too_large(limit: int = LAMBDA_MAX_REQUEST_BYTES) -> LambdaApiError:
    return LambdaApiError(
        413,
        _ENTITY_TOO_LARGE,
        f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
    )


def event_too_large(size: int | None, limit: int) -> LambdaApiError:
    """An ``Event`` payload past the asynchronous limit (``size``: as declared, if it was)."""
    payload = f"{size} byte payload" if size is not None else "Payload"
    return LambdaApiError(
        413,
        _ENTITY_TOO_LARGE,
        f"{payload} is too large for the Event invocation type (limit {limit} bytes)",
    )


def too_many_requests() -> LambdaApiError:
    """Every sandbox of the function is busy at its concurrency limit."""
    return LambdaApiError(
        429,
        "TooManyRequestsException",
        "Rate Exceeded.",
        Reason="ConcurrentInvocationLimitExceeded",
    )


def access_denied() -> LambdaApiError:
    return LambdaApiError(
        403,
        "AccessDeniedException",
        "The Lambda API is off while --api-key or --jwks guard the API (it would bypass them)",
    )


def unknown_operation() -> LambdaApiError:
    return LambdaApiError(404, "UnknownOperationException", "Unknown operation")
