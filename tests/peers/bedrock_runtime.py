"""A Bedrock Runtime peer: ``POST /model/{modelId}/converse-stream`` answered from a recording.

It speaks the wire protocol botocore expects: a SigV4-signed request in, a chunked
``application/vnd.amazon.eventstream`` body out, one event-stream message per HTTP chunk
with a pause between them so streaming is observable end to end. It keeps every request it
received, and its :attr:`~BedrockRuntimePeer.mode` scripts the failures Bedrock has:

``answer``                the recorded stream, then a normal end
``validation_error``      HTTP 400 ``ValidationException`` before any event
``throttled``             HTTP 429 ``ThrottlingException`` before any event
``stream_error``          a few events, then a ``modelStreamErrorException`` exception message
``throttled_mid_stream``  a few events, then a ``throttlingException`` exception message
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from starlette.types import Receive, Scope, Send

from streamway.local.lambda_api.event_stream import event_message, exception_message
from tests.peers.loopback import read_body
from tests.peers.sigv4 import is_signed_by

RECORDING = Path(__file__).parent / "recordings" / "converse_stream.json"

Mode = Literal["answer", "validation_error", "throttled", "stream_error", "throttled_mid_stream"]

#: The exception message that ends the stream in each failing mode: (type, message).
_STREAM_EXCEPTIONS = {
    "stream_error": ("modelStreamErrorException", "The model stopped unexpectedly."),
    "throttled_mid_stream": (
        "throttlingException",
        "Too many tokens, please wait before trying again.",
    ),
}

_CONVERSE_STREAM = re.compile(r"/model/[^/]+/converse-stream")


@dataclass(frozen=True)
class Recording:
    """A ConverseStream response: ``(event type, JSON payload)`` in the order sent."""

    events: list[tuple[str, dict[str, Any]]]

    @classmethod
    def load(cls, path: Path = RECORDING) -> Recording:
        document = json.loads(path.read_text(encoding="utf-8"))
        return cls([next(iter(event.items())) for event in document["events"]])

    @property
    def text(self) -> str:
        return "".join(
            body["delta"]["text"] for kind, body in self.events if kind == "contentBlockDelta"
        )

    @property
    def usage(self) -> dict[str, int]:
        usage: dict[str, int] = next(
            body["usage"] for kind, body in self.events if kind == "metadata"
        )
        return usage


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    signed: bool

    def json(self) -> Any:
        return json.loads(self.body)


class BedrockRuntimePeer:
    """An ASGI app; serve it with :func:`tests.peers.loopback.serve_in_thread`."""

    #: Events sent before a mid-stream failure (``stream_error``, ``throttled_mid_stream``).
    events_before_error = 3

    def __init__(
        self,
        secret_key: str,
        recording: Recording | None = None,
        *,
        delay_s: float = 0.03,
    ) -> None:
        self.secret_key = secret_key
        self.recording = recording or Recording.load()
        self.delay_s = delay_s
        self.mode: Mode = "answer"
        self.requests: list[ReceivedRequest] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        request = await self._receive_request(scope, receive)
        self.requests.append(request)
        if request.method != "POST" or not _CONVERSE_STREAM.fullmatch(request.raw_path):
            await _error(send, 404, "UnknownOperationException", "")
        elif not request.signed:
            await _error(
                send,
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        elif self.mode == "validation_error":
            await _error(
                send,
                400,
                "ValidationException",
                "The provided model identifier is invalid.",
            )
        elif self.mode == "throttled":
            await _error(
                send,
                429,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            )
        else:
            await self._stream(send)

    async def _receive_request(self, scope: Scope, receive: Receive) -> ReceivedRequest:
        body = await read_body(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        raw_path = scope["raw_path"].decode()
        signed = is_signed_by(
            self.secret_key, method=scope["method"], raw_path=raw_path, headers=headers, body=body
        )
        return ReceivedRequest(scope["method"], raw_path, headers, body, signed)

    async def _stream(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/vnd.amazon.eventstream"),
                    (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                ],
            }
        )
        events = self.recording.events
        failure = _STREAM_EXCEPTIONS.get(self.mode)
        if failure is not None:
            events = events[: self.events_before_error]
        for kind, body in events:
            await send(
                {"type": "http.response.body", "body": event_message(kind, body), "more_body": True}
            )
            await asyncio.sleep(self.delay_s)
        last = b""
        if failure is not None:
            # Bedrock reports a failure after the 200 as a final exception message.
            exception_type, message = failure
            last = exception_message(exception_type, {"message": message})
        await send({"type": "http.response.body", "body": last, "more_body": False})


async def _error(send: Send, status: int, error_type: str, message: str) -> None:
    """A rest-json error as Bedrock sends it: the type in ``x-amzn-ErrorType``, JSON body."""
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                (
                    b"x-amzn-errortype",
                    f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/".encode(),
                ),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
