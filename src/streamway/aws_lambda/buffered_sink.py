"""Buffered mode: the whole response as one proxy-response JSON (BUFFERED integrations,
function URLs with InvokeMode BUFFERED, and non-HTTP events)."""

from __future__ import annotations

from streamway.aws_contract import LAMBDA_MAX_BUFFERED_RESPONSE_BYTES, RESPONSE_SIZE_TOO_LARGE
from streamway.aws_lambda.client import RuntimeAPIClient
from streamway.aws_lambda.events.base import EventSource, RawHeaders
from streamway.aws_lambda.sink import error_payload


class ResponseTooLarge(Exception):
    """The body passed Lambda's buffered response limit."""


class BufferedSink:
    """A :class:`~streamway.aws_lambda.sink.ResponseSink` that collects, then posts once.

    Lambda caps a buffered response at 6 MB. A body past it is refused at the write that
    passes it (:class:`ResponseTooLarge`), rather than held whole in memory to be refused by
    the Runtime API, and the invocation fails as Lambda fails it
    (``Function.ResponseSizeTooLarge``).
    """

    def __init__(self, client: RuntimeAPIClient, request_id: str, source: EventSource) -> None:
        self.client = client
        self.request_id = request_id
        self.source = source
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []
        self.size = 0
        self.too_large: ResponseTooLarge | None = None

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.status = status
        self.headers = list(headers)

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > LAMBDA_MAX_BUFFERED_RESPONSE_BYTES:
            self.parts.clear()
            self.too_large = ResponseTooLarge(
                f"Response payload size exceeded maximum allowed payload size "
                f"({LAMBDA_MAX_BUFFERED_RESPONSE_BYTES} bytes)."
            )
            raise self.too_large
        self.parts.append(data)

    async def finish(self) -> None:
        payload = self.source.buffered(self.status, self.headers, b"".join(self.parts))
        await self.client.post_response(self.request_id, payload, "application/json")

    async def fail(self, error: BaseException) -> None:
        # Nothing left the function yet, so a failure at any point is an ordinary error;
        # whatever the app made of the refusal, the refusal is what failed it.
        if self.too_large is not None:
            error_object = error_payload(self.too_large, RESPONSE_SIZE_TOO_LARGE)
        else:
            error_object = error_payload(error)
        await self.client.post_error(self.request_id, error_object)
