"""A native AWS Lambda runtime for ASGI apps, with Runtime API response streaming.

Run it with ``python -m streamway.aws_lambda`` (or :func:`main`); it serves the ASGI app
named by ``STREAMWAY_APP``, or the plain handler named by ``STREAMWAY_HANDLER`` (whose
``stream`` argument is a :class:`ResponseStream`). What other code may import is listed in
``__all__`` and documented in docs/lambda.md ("The public surface"); every other module of
this package is internal and may change. Nothing here imports pydantic, a web framework or a
model: every cold start of every app the runtime serves would pay for it.
"""

from streamway.aws_lambda.bridge import AsgiBridge
from streamway.aws_lambda.context import LambdaContext, current_trace_id
from streamway.aws_lambda.events import HTTP_SOURCES, EventSource, HttpApiV2, PassThrough, RestApiV1
from streamway.aws_lambda.events.base import RawHeaders
from streamway.aws_lambda.response_stream import HeadersAlreadySent, ResponseHeaders, ResponseStream
from streamway.aws_lambda.runtime import main
from streamway.aws_lambda.types import ASGIApp

__all__ = [
    "HTTP_SOURCES",
    "ASGIApp",
    "AsgiBridge",
    "EventSource",
    "HeadersAlreadySent",
    "HttpApiV2",
    "LambdaContext",
    "PassThrough",
    "RawHeaders",
    "ResponseHeaders",
    "ResponseStream",
    "RestApiV1",
    "current_trace_id",
    "main",
]
