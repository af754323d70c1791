"""Event source handlers, asked in order; the first whose ``infer()`` claims an event wins."""

from streamway.aws_lambda.events.base import EventSource
from streamway.aws_lambda.events.http_v2 import HttpApiV2
from streamway.aws_lambda.events.pass_through import PassThrough
from streamway.aws_lambda.events.rest_v1 import RestApiV1

#: HTTP sources in the order they are asked. Put your own first to claim events before them.
HTTP_SOURCES: tuple[type[EventSource], ...] = (HttpApiV2, RestApiV1)

__all__ = ["HTTP_SOURCES", "EventSource", "HttpApiV2", "PassThrough", "RestApiV1"]
