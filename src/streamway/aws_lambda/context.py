"""The invocation context a Lambda handler gets, built from ``invocation/next``'s headers,
and the trace header of the invocation being served, per task (:func:`current_trace_id`)."""

from __future__ import annotations

import contextvars
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from streamway.aws_contract import (
    CLIENT_CONTEXT_HEADER,
    COGNITO_IDENTITY_HEADER,
    DEADLINE_MS_HEADER,
    FUNCTION_ARN_HEADER,
    TRACE_ID_HEADER,
)
from streamway.aws_lambda.client import NextInvocation

#: The invocation's ``Lambda-Runtime-Trace-Id``, set by the runtime in the task that serves
#: it: under concurrency (Managed Instances) ``_X_AMZN_TRACE_ID`` is one value for the whole
#: process, so it cannot say which invocation a line of code runs for; this can.
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "streamway_trace_id", default=None
)


def current_trace_id() -> str | None:
    """The X-Ray trace header (``Root=...;Parent=...;Sampled=...``) of the invocation the
    calling code runs for, or None outside one; right under concurrency, where the
    ``_X_AMZN_TRACE_ID`` environment variable is not (docs/lambda.md, Managed Instances)."""
    return trace_id_var.get()


@dataclass(frozen=True)
class LambdaContext:
    """Mirrors the attributes of the Python runtime's context object."""

    aws_request_id: str
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str | None = None
    function_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    )
    function_version: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    )
    memory_limit_in_mb: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    )
    log_group_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
    )
    log_stream_name: str = field(
        default_factory=lambda: os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
    )
    client_context: Any = None
    identity: Any = None

    @classmethod
    def from_next(cls, invocation: NextInvocation) -> LambdaContext:
        headers = invocation.headers
        client_context = headers.get(CLIENT_CONTEXT_HEADER)
        identity = headers.get(COGNITO_IDENTITY_HEADER)
        return cls(
            aws_request_id=invocation.request_id,
            deadline_ms=int(headers.get(DEADLINE_MS_HEADER, "0")),
            invoked_function_arn=headers.get(FUNCTION_ARN_HEADER, ""),
            trace_id=headers.get(TRACE_ID_HEADER),
            client_context=json.loads(client_context) if client_context else None,
            identity=json.loads(identity) if identity else None,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))
