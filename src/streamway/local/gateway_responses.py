"""API Gateway's own answers: the gateway responses a REST API sends when it, not the
function, decides the outcome.

Bodies and status codes are API Gateway's defaults (supported-gateway-response-types.html),
so a client tested against ``streamway local`` handles the same ``{"message": ...}`` shapes
it will meet on AWS. Each carries the ``x-amzn-ErrorType`` header API Gateway adds to its
own errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    message: str
    error_type: str

    def body(self) -> bytes:
        return json.dumps({"message": self.message}).encode()

    def headers(self, request_id: str) -> list[tuple[bytes, bytes]]:
        body = self.body()
        return [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amzn-errortype", self.error_type.encode()),
        ]


#: No resource/method matches, or the path is outside the stage (MISSING_AUTHENTICATION_TOKEN).
MISSING_AUTHENTICATION_TOKEN = GatewayResponse(
    403, "Missing Authentication Token", "MissingAuthenticationTokenException"
)
#: A request payload over API Gateway's 10 MB limit (REQUEST_TOO_LARGE).
REQUEST_TOO_LARGE = GatewayResponse(413, "Request Too Long", "RequestTooLargeException")
#: The integration did not answer within its timeout (INTEGRATION_TIMEOUT).
INTEGRATION_TIMEOUT = GatewayResponse(
    504, "Endpoint request timed out", "InternalServerErrorException"
)
#: The function failed, returned a malformed proxy response, or its process died.
BAD_GATEWAY = GatewayResponse(502, "Internal server error", "InternalServerErrorException")
#: A STREAM response without a valid prelude and delimiter within 16 KB ("invokes your
#: Lambda function and return a 500", response-transfer-mode-lambda.html). Also Lambda
#: throttling: a proxy integration turns Lambda's 429 TooManyRequestsException into a 500
#: (the status cannot be mapped, per the API Gateway team on Stack Overflow #36363280 and
#: re:Post "API Gateway proxy integration does not forward Lambda throttling (HTTP 429)").
INTERNAL_ERROR = GatewayResponse(500, "Internal server error", "InternalServerErrorException")
#: Auth failures (UNAUTHORIZED, ACCESS_DENIED / INVALID_API_KEY).
UNAUTHORIZED = GatewayResponse(401, "Unauthorized", "UnauthorizedException")
FORBIDDEN = GatewayResponse(403, "Forbidden", "ForbiddenException")


def for_denial(status: int, message: str) -> GatewayResponse:
    """The gateway response for an auth check's verdict (401 or 403)."""
    if status == 401:
        return GatewayResponse(401, message, UNAUTHORIZED.error_type)
    return GatewayResponse(status, message, FORBIDDEN.error_type)
