"""The catch-all proxy API that ``streamway local --app``/``--handler`` serves without a
definition: every method on ``/`` and on ``/{proxy+}``, all to one function.

This is the REST API a user's app gets on AWS: an ``ANY`` method on the root resource and on
a greedy ``{proxy+}`` resource below it, Lambda proxy integrations in one transfer mode. API
Gateway then sends ``resource: "/{proxy+}"`` with ``pathParameters.proxy`` holding the rest
of the path (decoded) for every path but the root, and ``resource: "/"`` with no
``pathParameters`` for the root (rest_event.py builds both from the route matched here).

The document lists the seven methods one by one rather than
``x-amazon-apigateway-any-method``, which the definition parser does not read; the events
are the same (``httpMethod`` is the request's method either way).

``*/*`` is a binary media type, so every request body reaches the app base64-encoded and
byte for byte (API Gateway would otherwise hand a non-UTF-8 body over as mangled text), as
Lambda Web Adapter and Mangum advise for a whole app behind a proxy.
"""

from __future__ import annotations

from typing import Any

from streamway.api.definition import HTTP_METHODS, INTEGRATION, ApiDefinition, parse_definition
from streamway.aws_contract import (
    BUFFERED_DEFAULT_TIMEOUT_MS,
    STREAM_MAX_TIMEOUT_MS,
    TransferMode,
)

CATCH_ALL_RESOURCES = ("/", "/{proxy+}")
#: Every request body is binary, so it arrives as the client sent it.
CATCH_ALL_BINARY_MEDIA_TYPES = ("*/*",)
_TITLE = "streamway-app"
_URIS: dict[TransferMode, str] = {
    "STREAM": "arn:aws:apigateway:${Region}:lambda:path/2021-11-15/functions/${FunctionArn}"
    "/response-streaming-invocations",
    "BUFFERED": "arn:aws:apigateway:${Region}:lambda:path/2015-03-31/functions/${FunctionArn}"
    "/invocations",
}
_TIMEOUTS_MS: dict[TransferMode, int] = {
    "STREAM": STREAM_MAX_TIMEOUT_MS,
    "BUFFERED": BUFFERED_DEFAULT_TIMEOUT_MS,
}


def catch_all_document(mode: TransferMode) -> dict[str, Any]:
    """The OpenAPI document of the catch-all proxy, integrations in ``mode`` (STREAM: the
    15-minute timeout; BUFFERED: 29 s)."""
    integration = {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": _URIS[mode],
        "responseTransferMode": mode,
        "timeoutInMillis": _TIMEOUTS_MS[mode],
    }
    operations = {method: {INTEGRATION: integration} for method in HTTP_METHODS}
    return {
        "openapi": "3.0.1",
        "info": {"title": _TITLE, "version": "1"},
        "x-amazon-apigateway-binary-media-types": list(CATCH_ALL_BINARY_MEDIA_TYPES),
        "paths": {resource: operations for resource in CATCH_ALL_RESOURCES},
    }


def catch_all_definition(mode: TransferMode) -> ApiDefinition:
    return parse_definition(catch_all_document(mode))
