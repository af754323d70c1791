"""AgentCore's own refusals (before, or instead of, the agent's answer), as boto3 reads them.

A refusal is a status, ``x-amzn-ErrorType`` naming the exception and a JSON body with its
``message`` (and ``reason`` for ValidationException, which botocore's model requires):
botocore's REST-JSON parser takes the code from the header and raises the
``bedrock-agentcore`` client's exception class of that name. Statuses are the model's
(``ValidationException`` 400, ``ResourceNotFoundException`` 404, ``RuntimeClientError`` 424).
"""

from __future__ import annotations

import json

from streamway.local.lambda_api.errors import LambdaApiError

#: InvokeAgentRuntime's payload limit: botocore's model (Body: max 100000000) and the docs.
MAX_PAYLOAD_BYTES = 100_000_000


class AgentCoreError(LambdaApiError):
    """One of the service's answers to an invocation it will not (or could not) complete:
    sent as the Lambda API's refusals are, with AgentCore's body (no ``Type``)."""

    def body(self) -> bytes:
        return json.dumps({"message": self.message, **self.extra}).encode()


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
