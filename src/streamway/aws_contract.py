"""The AWS contract streamway implements, as data: modes, limits, header names, error objects.

One definition, imported by the Lambda runtime (``aws_lambda``), by the emulators of
``streamway local`` (``local``), by the API definition and by the service's limits. Their
*parsers* stay separate on purpose: the emulator reads the runtime's bytes with its own code,
so it remains an independent check of the runtime rather than a mirror of it.

Sources for every value: docs/aws-behaviour.md (§1 API Gateway, §2 Lambda). "MB" in AWS's
pages is read as MiB everywhere (Lambda enforces its "6 MB" as 6,291,456 bytes).

This module imports nothing heavier than ``typing``: the runtime imports it on every cold start.
"""

from __future__ import annotations

from typing import Literal

MiB = 1024 * 1024

# -- How a function answers, and how API Gateway relays it -----------------------------------

#: A function's invoke mode: streaming (prelude + 8 NULs + body) or one proxy-response JSON.
#: Lambda's function URLs call them RESPONSE_STREAM and BUFFERED; Lambda Web Adapter's
#: ``AWS_LWA_INVOKE_MODE`` uses these spellings.
InvokeMode = Literal["response_stream", "buffered"]
INVOKE_MODES: tuple[InvokeMode, ...] = ("response_stream", "buffered")
STREAMING_INVOKE_MODE: InvokeMode = "response_stream"

#: An API Gateway integration's ``responseTransferMode`` (in the OpenAPI definition).
TransferMode = Literal["STREAM", "BUFFERED"]
TRANSFER_MODES: tuple[TransferMode, ...] = ("STREAM", "BUFFERED")
#: The same two modes as ``$context.integration.responseTransferMode`` spells them in access
#: logs and as metering counts them.
LoggedTransferMode = Literal["STREAMED", "BUFFERED"]


def logged_transfer_mode(mode: TransferMode) -> LoggedTransferMode:
    """The access log's spelling of an integration's transfer mode."""
    return "STREAMED" if mode == "STREAM" else "BUFFERED"


def invoke_mode_for(mode: TransferMode) -> InvokeMode:
    """The invoke mode a function behind an integration of this transfer mode must use."""
    return STREAMING_INVOKE_MODE if mode == "STREAM" else "buffered"


# -- API Gateway REST (§1) -------------------------------------------------------------------

#: The largest request payload API Gateway accepts (413 above it).
API_GATEWAY_MAX_REQUEST_BYTES = 10 * MiB
#: The largest BUFFERED response (502 above it).
API_GATEWAY_MAX_BUFFERED_RESPONSE_BYTES = 10 * MiB
#: A streamed response's first 10 MB go at full speed, then at most 2 MB/s.
API_GATEWAY_FREE_STREAM_BYTES = 10 * MiB
API_GATEWAY_STREAM_BYTES_PER_S = 2.0 * MiB
#: Integration timeouts: BUFFERED 29 s by default; STREAM up to 15 minutes; at least 50 ms.
BUFFERED_DEFAULT_TIMEOUT_MS = 29_000
STREAM_MAX_TIMEOUT_MS = 900_000
INTEGRATION_MIN_TIMEOUT_MS = 50
#: A stream silent for this long is cut: 5 minutes on Regional and private endpoints.
STREAM_IDLE_TIMEOUT_S = 300.0

# -- Lambda (§2) -----------------------------------------------------------------------------

#: The longest a function may run.
LAMBDA_MAX_TIMEOUT_S = 900.0
#: The largest synchronous invoke payload, and the largest buffered response.
LAMBDA_MAX_REQUEST_BYTES = 6 * MiB
LAMBDA_MAX_BUFFERED_RESPONSE_BYTES = 6 * MiB
#: The largest asynchronous (``Event``) invoke payload.
LAMBDA_MAX_ASYNC_REQUEST_BYTES = 1 * MiB
#: The largest streamed response (soft limit).
LAMBDA_MAX_STREAMED_RESPONSE_BYTES = 200 * MiB
#: A streamed response's first 6 MB go at full speed, then at most 2 MB/s.
LAMBDA_FREE_STREAM_BYTES = 6 * MiB
LAMBDA_STREAM_BYTES_PER_S = 2.0 * MiB

#: A streaming HTTP response starts with a JSON prelude (status, headers, cookies) and these
#: eight NUL bytes; the body follows.
PRELUDE_DELIMITER = b"\x00" * 8
#: The delimiter must come within this many bytes of the stream's start.
PRELUDE_MAX_BYTES = 16 * 1024
#: The content type of a streamed HTTP response's body on the Runtime API.
HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"

# Runtime API headers (lower case: HTTP/1.1 header names are case-insensitive).
REQUEST_ID_HEADER = "lambda-runtime-aws-request-id"
DEADLINE_MS_HEADER = "lambda-runtime-deadline-ms"
FUNCTION_ARN_HEADER = "lambda-runtime-invoked-function-arn"
TRACE_ID_HEADER = "lambda-runtime-trace-id"
CLIENT_CONTEXT_HEADER = "lambda-runtime-client-context"
COGNITO_IDENTITY_HEADER = "lambda-runtime-cognito-identity"
#: ``streaming`` on a response that streams.
RESPONSE_MODE_HEADER = "lambda-runtime-function-response-mode"
RESPONSE_MODE_STREAMING = "streaming"
#: A failure mid-stream is reported in these two *trailers* (and on /error as a header).
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = "lambda-runtime-function-error-body"

# -- Error types Lambda reports -------------------------------------------------------------

TIMED_OUT = "Sandbox.Timedout"
EXIT_ERROR = "Runtime.ExitError"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
#: What AWS's runtime clients report when the handler setting names nothing usable: a
#: setting without ``module.function``, a missing attribute, a module with a syntax error,
#: and (Node's name) a function that is not one of the streaming handler shapes.
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
MALFORMED_STREAMING_HANDLER = "Runtime.MalformedStreamingHandler"
#: A buffered response over Lambda's 6 MB.
RESPONSE_SIZE_TOO_LARGE = "Function.ResponseSizeTooLarge"


def error_object(
    error_type: str, message: str, stack_trace: list[str] | None = None
) -> dict[str, object]:
    """An error as Lambda's runtimes and Runtime API report one.

    ``{"errorType", "errorMessage"}``, and ``stackTrace`` (a list of lines) when known.
    """
    error: dict[str, object] = {"errorType": error_type, "errorMessage": message}
    if stack_trace is not None:
        error["stackTrace"] = stack_trace
    return error


def timed_out_error(timeout_s: float) -> dict[str, object]:
    """What Lambda reports when a function runs past its timeout."""
    return error_object(TIMED_OUT, f"Task timed out after {timeout_s:.2f} seconds")


# -- streamway's defaults --------------------------------------------------------------------

#: The ASGI app the runtime and ``streamway local`` serve when none is named (STREAMWAY_APP).
DEFAULT_APP = "streamway.service.asgi:app"
