"""Request heads no larger than API Gateway accepts: a pure ASGI middleware for both edges.

API Gateway's quotas for REST APIs cap the size of a header value at 10240 bytes ("Header
value size", Amazon API Gateway quotas, docs.aws.amazon.com/apigateway/latest/developerguide/
limits.html), and its HTTP APIs cap the request line and all header values together at the
same 10240 bytes. A request over the cap never reaches the Lambda function on AWS, so
``streamway serve`` and ``streamway local`` refuse it too, with ``431 Request Header Fields
Too Large`` and a JSON body, before the app parses any header: a megabyte of
``If-None-Match`` is refused at the price of measuring it, not of parsing it.

The head as a whole (request line, names and values) has its own bound, generous enough for
big cookies and tokens, because many headers each under the cap add up too.

The server has read the head into memory by the time an ASGI app sees it (uvicorn buffers it
whole); this middleware bounds what the app does with it, not what the server reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config/serve.py imports the limits: keep starlette out of its import
    from starlette.types import ASGIApp, Receive, Scope, Send

#: API Gateway's cap on one header value, in bytes.
MAX_HEADER_VALUE_BYTES = 10240
#: The bound on the whole head (request line + every name and value). nginx's default
#: (4 buffers of 8 KiB for large heads) is the same order.
MAX_HEAD_BYTES = 32 * 1024

STATUS = 431

log = logging.getLogger("streamway.http")


@dataclass(frozen=True)
class HeadTooLarge:
    """Why a request head is refused: one header, or the head as a whole, is over a limit."""

    message: str
    limit_bytes: int
    #: The header (lower case) whose value is too long; None when the whole head is.
    header: str | None = None


def check_head(scope: Scope, max_value_bytes: int, max_head_bytes: int) -> HeadTooLarge | None:
    """The reason to refuse ``scope``'s head, or None. Linear in the number of headers."""
    # "GET " + path + "?" + query + " HTTP/1.1": the request line as it came.
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    total = len(scope.get("method", "GET")) + len(path) + 11
    total += len(scope.get("query_string", b""))
    for name, value in scope.get("headers", ()):
        if len(value) > max_value_bytes:
            header = name.decode("latin-1")[:64]
            return HeadTooLarge(
                f"The {header} header has {len(value)} bytes; the most this API accepts in "
                f"one header is {max_value_bytes}.",
                max_value_bytes,
                header,
            )
        total += len(name) + len(value) + 4  # ": " and CRLF
    if total > max_head_bytes:
        return HeadTooLarge(
            f"The request line and headers have {total} bytes together; the most this API "
            f"accepts is {max_head_bytes}.",
            max_head_bytes,
        )
    return None


def gateway_message(refusal: HeadTooLarge) -> object:
    """The body API Gateway's own errors have: ``{"message": ...}``."""
    return {"message": "Request Header Fields Too Large"}


class HeadLimitMiddleware:
    """Answers 431 (HTTP) or refuses the upgrade (WebSocket: 403) when a head is over the limits.

    ``body`` renders the JSON body of the refusal: API Gateway's ``{"message": ...}`` by
    default (``streamway local``), the service's ``{"error": {...}}`` in the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int = MAX_HEADER_VALUE_BYTES,
        max_head_bytes: int = MAX_HEAD_BYTES,
        body: Callable[[HeadTooLarge], object] = gateway_message,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_head_bytes = max_head_bytes
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = check_head(scope, self.max_header_bytes, self.max_head_bytes)
            if refusal is not None:
                log.info(
                    "request head too large",
                    extra={
                        "status": STATUS,
                        "path": scope.get("path", "")[:256],
                        "header": refusal.header,
                        "limit_bytes": refusal.limit_bytes,
                    },
                )
                await send_json_refusal(scope, receive, send, STATUS, self.body(refusal))
                return
        await self.app(scope, receive, send)


async def send_json_refusal(
    scope: Scope, receive: Receive, send: Send, status: int, payload: object
) -> None:
    """Answers ``payload`` as JSON with ``status`` before the app ran; for a WebSocket
    handshake, closes it instead, which the server answers with 403.

    (ASGI's denial response could carry the status and body to a WebSocket client too, but
    uvicorn then logs "ASGI callable returned without completing handshake" as an ERROR
    for every refusal.)
    """
    if scope["type"] == "websocket":
        await receive()  # websocket.connect: the handshake is answered only after it
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The connection carried a head we would not read: do not wait for another one.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
