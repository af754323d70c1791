"""Streaming mode: ``POST .../invocation/{id}/response`` as a chunked HTTP integration response.

On the wire, as the Node.js runtime sends it (docs/aws-behaviour.md §2): the streaming
headers, then the JSON prelude and 8 NUL bytes, then each body chunk as the app sends it,
then the zero chunk. A failure after the request began ends it with real HTTP trailers
carrying the error type and a base64 JSON body, not with trailer-shaped text inside the body
(the Rust runtime's, and so Lambda Web Adapter's, behaviour), so the stream is seen to have
failed. A source without a prelude (a plain handler's direct invocation) streams its body
alone, under its own content type.
"""

from __future__ import annotations

import base64
import json
import logging

import h11

from streamway.aws_contract import (
    ERROR_BODY_TRAILER,
    ERROR_TYPE_HEADER,
    HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE,
    PRELUDE_DELIMITER,
    RESPONSE_MODE_HEADER,
    RESPONSE_MODE_STREAMING,
)
from streamway.aws_lambda.client import RuntimeAPIClient, expect_accepted
from streamway.aws_lambda.events.base import EventSource, RawHeaders
from streamway.aws_lambda.sink import error_payload

log = logging.getLogger("streamway.aws_lambda")

STREAMING_HEADERS = (
    (RESPONSE_MODE_HEADER, RESPONSE_MODE_STREAMING),
    ("Transfer-Encoding", "chunked"),
    # Names are case-insensitive, but a Trailer header's *value* is compared as text by some
    # peers: it is written as AWS's own runtime clients write it.
    ("Trailer", ERROR_TYPE_HEADER.title()),
    ("Trailer", ERROR_BODY_TRAILER.title()),
)
#: A streamed result without a prelude (a direct invocation) that names no content type: as
#: the Node.js runtime's response stream defaults.
RAW_CONTENT_TYPE = "application/octet-stream"


class StreamingSink:
    """A :class:`~streamway.aws_lambda.sink.ResponseSink` that streams to the Runtime API.

    It holds no body of its own: each chunk goes to the socket at once and ``write()``
    returns only when the socket buffer is below its bound, so a slow Runtime API
    connection slows the app's ``send()``.
    """

    def __init__(self, client: RuntimeAPIClient, request_id: str, source: EventSource) -> None:
        self.client = client
        self.request_id = request_id
        self.source = source
        self.started = False

    async def start(self, status: int, headers: RawHeaders) -> None:
        head: bytes | None = None
        content_type = HTTP_INTEGRATION_RESPONSE_CONTENT_TYPE
        if self.source.preludes:
            head = json.dumps(self.source.prelude(status, headers), separators=(",", ":")).encode()
        else:
            named = [value for name, value in headers if name.lower() == b"content-type"]
            content_type = named[0].decode("latin-1") if named else RAW_CONTENT_TYPE
        connection = self.client.connection
        if connection.closed:
            # The connection `next` came on is gone: the Runtime API ended the invocation
            # (streamway's emulator hangs up when the caller leaves). Another connection
            # would only stream the answer to a refusal.
            raise ConnectionResetError("the Runtime API hung up before the response began")
        await connection.begin(
            "POST",
            f"/invocation/{self.request_id}/response",
            (*STREAMING_HEADERS, ("Content-Type", content_type)),
        )
        self.started = True
        if head is None:
            return
        # Sent at once, even before any body: API Gateway starts the client's response on the
        # delimiter, and an empty body must still produce prelude + delimiter (the Node.js
        # runtime only writes them on the first body write).
        await connection.send(h11.Data(data=head))
        await connection.send(h11.Data(data=PRELUDE_DELIMITER))

    async def write(self, data: bytes) -> None:
        if data:  # an empty chunk would read as the end of the chunked body
            await self.client.connection.send(h11.Data(data=data))

    async def finish(self) -> None:
        reply = await self.client.connection.end()
        expect_accepted(reply, "streamed response")

    async def fail(self, error: BaseException) -> None:
        if not self.started:
            await self.client.post_error(self.request_id, error_payload(error))
            return
        payload = error_payload(error)
        body = json.dumps(
            {
                "errorType": payload["errorType"],
                "errorMessage": payload["errorMessage"],
                "trace": payload["stackTrace"],
            },
            separators=(",", ":"),
        )
        trailers = [
            (ERROR_TYPE_HEADER, payload["errorType"]),
            (ERROR_BODY_TRAILER, base64.b64encode(body.encode()).decode("ascii")),
        ]
        log.error("the app failed mid-stream; ending the response with error trailers")
        reply = await self.client.connection.end(trailers)
        expect_accepted(reply, "failed stream")
