"""Buffered mode: the whole response as one proxy-response JSON (BUFFERED integrations,
function URLs with InvokeMode BUFFERED, and non-HTTP events)."""

from __future__ import annotations

from streamway.aws_lambda.client import RuntimeAPIClient
from streamway.aws_lambda.events.base import EventSource, RawHeaders
from streamway.aws_lambda.sink import error_payload


class BufferedSink:
    """A :class:`~streamway.aws_lambda.sink.ResponseSink` that collects, then posts once.

    Lambda caps a buffered response at 6 MB; a larger one is refused by the Runtime API.
    """

    def __init__(self, client: RuntimeAPIClient, request_id: str, source: EventSource) -> None:
        self.client = client
        self.request_id = request_id
        self.source = source
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.status = status
        self.headers = list(headers)

    async def write(self, data: bytes) -> None:
        self.parts.append(data)

    async def finish(self) -> None:
        payload = self.source.buffered(self.status, self.headers, b"".join(self.parts))
        await self.client.post_response(self.request_id, payload, "application/json")

    async def fail(self, error: BaseException) -> None:
        # Nothing left the function yet, so a failure at any point is an ordinary error.
        await self.client.post_error(self.request_id, error_payload(error))
