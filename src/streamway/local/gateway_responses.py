"""API Gateway's own answers: the gateway responses a REST API sends when it, not the
function, decides the outcome.

Bodies and status codes are API Gateway's defaults (supported-gateway-response-types.html),
so a client tested against ``streamway local`` handles the same ``{"message": ...}`` shapes
it will meet on AWS. Each carries the ``x-amzn-ErrorType`` header API Gateway adds to its
own errors. The bodies are byte for byte what clients see: the gateway responses rendered
from the default template ``{"message":$context.error.messageString}`` have no space
(``{"message":"Missing Authentication Token"}``), while the integration failures read
``{"message": "Internal server error"}`` and ``{"message": "Endpoint request timed out"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Send


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    message: str
    error_type: str
    #: Whether the body has a space after the colon (see the module docstring).
    spaced: bool = False

    def body(self) -> bytes:
        separators = (", ", ": ") if self.spaced else (",", ":")
        return json.dumps({"message": self.message}, separators=separators).encode()

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
#: No API key, or one the usage plan does not know (the API key check).
FORBIDDEN = GatewayResponse(403, "Forbidden", "ForbiddenException")
#: A token missing, invalid or expired (the Cognito authorizer's UNAUTHORIZED).
UNAUTHORIZED = GatewayResponse(401, "Unauthorized", "UnauthorizedException")
#: A request payload over API Gateway's 10 MB limit (REQUEST_TOO_LARGE).
REQUEST_TOO_LARGE = GatewayResponse(413, "Request Too Long", "RequestTooLargeException")
#: The integration did not answer within its timeout (INTEGRATION_TIMEOUT).
INTEGRATION_TIMEOUT = GatewayResponse(
    504, "Endpoint request timed out", "InternalServerErrorException", spaced=True
)
#: The function failed, returned a malformed proxy response, or its process died.
BAD_GATEWAY = GatewayResponse(
    502, "Internal server error", "InternalServerErrorException", spaced=True
)
#: A STREAM response without a valid prelude and delimiter within 16 KB ("invokes your
#: Lambda function and return a 500", response-transfer-mode-lambda.html). Also Lambda
#: throttling: a proxy integration turns Lambda's 429 TooManyRequestsException into a 500
#: (the status cannot be mapped, per the API Gateway team on Stack Overflow #36363280 and
#: re:Post "API Gateway proxy integration does not forward Lambda throttling (HTTP 429)").
INTERNAL_ERROR = GatewayResponse(
    500, "Internal server error", "InternalServerErrorException", spaced=True
)
#: A request head or body that stopped arriving (streamway local's own: API Gateway's edge
#: cuts slow clients on terms it does not document). Not an API Gateway response type.
REQUEST_TIMEOUT = GatewayResponse(408, "Request Timeout", "RequestTimeoutException")


async def send_gateway_response(send: Send, response: GatewayResponse, request_id: str) -> None:
    """Sends ``response`` whole, with the request's id."""
    headers = response.headers(request_id)
    if response is REQUEST_TIMEOUT:
        # The rest of a stalled body may still come: it must not be read as the next request.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body()})
