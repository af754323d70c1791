"""A scripted OpenAI-compatible peer: ``POST /v1/chat/completions`` with ``stream: true``.

It answers as OpenAI does: ``text/event-stream`` of ``chat.completion.chunk`` objects, a
chunk with ``finish_reason``, a usage-only chunk when ``stream_options.include_usage`` asks
for one, then ``data: [DONE]``. Its :attr:`~OpenAIChatPeer.mode` scripts the faults:

``answer``           the whole scripted answer
``drop_mid_stream``  a few chunks, then the TCP connection closes without the final chunk
``server_error``     HTTP 500 with OpenAI's JSON error body, before any chunk
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.types import Receive, Scope, Send

from tests.peers.loopback import read_body

Mode = Literal["answer", "drop_mid_stream", "server_error"]

ANSWER = ["Chunks", " arrive", " one", " at", " a", " time", ",", " then", " stop", "."]
USAGE = {"prompt_tokens": 23, "completion_tokens": len(ANSWER), "total_tokens": 23 + len(ANSWER)}


class ConnectionDropped(Exception):
    """Raised after the response started: uvicorn then closes the socket mid-body."""


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: The caller's (host, port): which connection the request came on.
    client: tuple[str, int] | None = None


class OpenAIChatPeer:
    """An ASGI app; serve it with :func:`tests.peers.loopback.serve_in_thread`."""

    #: Chunks sent before ``drop_mid_stream`` drops the connection.
    chunks_before_drop = 3

    def __init__(self, *, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.mode: Mode = "answer"
        self.requests: list[ReceivedRequest] = []
        #: When set, the answer waits after its first piece until the test sets this event
        #: (so "the first piece arrived before the rest existed" needs no timing); unopened
        #: within 120 s, the connection drops.
        self.gate: threading.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = await read_body(receive)
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        request = ReceivedRequest(
            scope["method"],
            scope["path"],
            headers,
            json.loads(body or b"{}"),
            client=scope.get("client"),
        )
        self.requests.append(request)

        if (request.method, request.path) != ("POST", "/v1/chat/completions"):
            await _json(send, 404, _error("Not found", "invalid_request_error"))
        elif self.mode == "server_error":
            await _json(send, 500, _error("The server had an error.", "server_error"))
        else:
            await self._stream(send, request.body)

    async def _stream(self, send: Send, completion: dict[str, Any]) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
            }
        )
        chunk = _chunk_factory(completion.get("model", ""))
        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": piece}) for piece in ANSWER]
        chunks.append(chunk({}, finish_reason="stop"))
        if completion.get("stream_options", {}).get("include_usage"):
            chunks.append({**chunk({}), "choices": [], "usage": USAGE})

        for number, data in enumerate(chunks):
            if self.mode == "drop_mid_stream" and number == self.chunks_before_drop:
                raise ConnectionDropped()
            await _send_event(send, json.dumps(data))
            gate = self.gate if number == 1 else None
            if gate is not None and not await asyncio.to_thread(gate.wait, 120):
                raise ConnectionDropped()  # never opened: the answer must not complete
            await asyncio.sleep(self.delay_s)
        await _send_event(send, "[DONE]")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _chunk_factory(model: str) -> Callable[..., dict[str, Any]]:
    """Makes ``chat.completion.chunk`` objects that share an id, a model and a timestamp."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-peer",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    return chunk


async def _send_event(send: Send, data: str) -> None:
    await send(
        {"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True}
    )


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    encoded = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(encoded)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": encoded})
