"""Answers on one emulator connection: a response head and a body, or Lambda-style JSON."""

from __future__ import annotations

import json
from typing import Any

from streamway.aws_contract import error_object
from streamway.local.http1 import response_head
from streamway.local.runtime_api.socket_stream import SocketStream


class Responder:
    """Writes the answers of one connection and remembers whether the current request got one
    (a refusal after a response head cannot be answered, only cut)."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.answered = False

    def next_request(self) -> None:
        """A new request begins: it has no answer yet."""
        self.answered = False

    async def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        """A response head alone (a chunked body follows)."""
        self.answered = True
        await self.stream.write(response_head(status, headers))

    async def write(
        self, status: int, headers: list[tuple[str, str]], body: bytes, *, close: bool = False
    ) -> None:
        """A whole response with a Content-Length body; ``close`` adds ``Connection: close``."""
        closing = [("connection", "close")] if close else []
        head = response_head(status, [*headers, *closing, ("content-length", str(len(body)))])
        self.answered = True
        await self.stream.write(head, body)

    async def reply(self, status: int, payload: Any, *, close: bool = False) -> None:
        """A JSON answer."""
        body = json.dumps(payload).encode()
        await self.write(status, [("content-type", "application/json")], body, close=close)

    async def accepted(self) -> None:
        """202, as the Runtime API acknowledges an answer or an error."""
        await self.reply(202, {"status": "OK"})

    async def not_found(self) -> None:
        await self.reply(404, error_object("NotFound", "no such Runtime API resource"))
