"""AgentCore's own refusals (before, or instead of, the agent's answer), as boto3 reads them.

A refusal is a status, ``x-amzn-ErrorType`` naming the exception and a JSON body with its
``message`` (and ``reason`` for ValidationException, which botocore's model requires):
botocore's REST-JSON parser takes the code from the header and raises the
``bedrock-agentcore`` client's exception class of that name. Statuses are the model's
(``ValidationException`` 400, ``ResourceNotFoundException`` 404, ``RuntimeClientError`` 424).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from streamway.local.lambda_api.errors import send_whole

if TYPE_CHECKING:  # annotations only: the light install has no starlette
    from starlette.types import Send

#: InvokeAgentRuntime's payload limit: botocore's model (Body: max 100000000) and the docs.
MAX_PAYLOAD_BYTES = 100_000_000


class AgentCoreError(Exception):
    """One of the service's answers to an invocation it will not (or could not) complete."""

    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> bytes:
        return json.dumps({"message": self.message, **self.extra}).encode()

    async def send(self, send: Send, request_id: str) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"x-amzn-requestid", request_id.encode()),
            (b"x-amzn-errortype", self.code.encode()),
        ]
        await send_whole(send, self.status, headers, self.body())


def validation(message: str) -> AgentCoreError:
    return AgentCoreError(400, "ValidationException", message, reason="FieldValidationFailed")


def payload_too_large() -> AgentCoreError:
    return validation(f"The payload must be at most {MAX_PAYLOAD_BYTES} bytes")


def not_found(message: str) -> AgentCoreError:
    return AgentCoreError(404, "ResourceNotFoundException", message)


def runtime_error(message: str) -> AgentCoreError:
    """The agent's container answered with an error, or could not be reached."""
    return AgentCoreError(424, "RuntimeClientError", message)


def unknown_operation() -> AgentCoreError:
    return AgentCoreError(404, "UnknownOperationException", "Unknown operation")
